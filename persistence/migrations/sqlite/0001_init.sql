-- Dalal SQL store, SQLite flavour. Keep in step with ../postgres/0001_init.sql: same tables,
-- same columns, same keys. Times are nanoseconds since the Unix epoch (UTC); prices and money
-- are integer paise; quantities are units. `run_id` names the engine run (or shard) that wrote
-- a row, because order and fill ids are dense per run.

CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'viewer',
    totp_secret   TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    owner_user_id INTEGER REFERENCES users(id)
);

CREATE TABLE IF NOT EXISTS instruments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol     TEXT    NOT NULL UNIQUE,
    segment    TEXT    NOT NULL,
    tick_paise INTEGER NOT NULL,
    lot        INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    run_id          TEXT    NOT NULL,
    order_id        INTEGER NOT NULL,
    account         TEXT    NOT NULL,
    strategy        INTEGER NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    order_type      TEXT    NOT NULL,
    product         TEXT    NOT NULL,
    validity        TEXT    NOT NULL,
    amo             INTEGER NOT NULL,
    qty             INTEGER NOT NULL,
    price_paise     INTEGER NOT NULL,
    trigger_paise   INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    filled_qty      INTEGER NOT NULL,
    avg_price       REAL    NOT NULL,
    reject_reason   TEXT,
    tag             TEXT    NOT NULL,
    brokerage_paise INTEGER NOT NULL,
    created_ns      INTEGER NOT NULL,
    updated_ns      INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL,
    PRIMARY KEY (run_id, order_id)
);
CREATE INDEX IF NOT EXISTS orders_account_updated ON orders (account, updated_ns);
CREATE INDEX IF NOT EXISTS orders_status ON orders (status, updated_ns);

CREATE TABLE IF NOT EXISTS order_events (
    run_id      TEXT    NOT NULL,
    order_id    INTEGER NOT NULL,
    source_seq  INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    filled_qty  INTEGER NOT NULL,
    qty         INTEGER NOT NULL,
    price_paise INTEGER NOT NULL,
    ts_ns       INTEGER NOT NULL,
    PRIMARY KEY (run_id, order_id, source_seq, status, filled_qty)
);

CREATE TABLE IF NOT EXISTS fills (
    run_id        TEXT    NOT NULL,
    fill_id       INTEGER NOT NULL,
    order_id      INTEGER NOT NULL,
    account       TEXT    NOT NULL,
    strategy      INTEGER NOT NULL,
    symbol        TEXT    NOT NULL,
    side          TEXT    NOT NULL,
    product       TEXT    NOT NULL,
    qty           INTEGER NOT NULL,
    price_paise   INTEGER NOT NULL,
    charges_paise INTEGER NOT NULL,
    ts_ns         INTEGER NOT NULL,
    source_seq    INTEGER NOT NULL,
    PRIMARY KEY (run_id, fill_id)
);
CREATE INDEX IF NOT EXISTS fills_account_ts ON fills (account, ts_ns);
CREATE INDEX IF NOT EXISTS fills_order ON fills (run_id, order_id);

CREATE TABLE IF NOT EXISTS position_snapshots (
    run_id           TEXT    NOT NULL,
    account          TEXT    NOT NULL,
    symbol           TEXT    NOT NULL,
    product          TEXT    NOT NULL,
    ts_ns            INTEGER NOT NULL,
    net_qty          INTEGER NOT NULL,
    avg_price        REAL    NOT NULL,
    realized_paise   INTEGER NOT NULL,
    unrealized_paise INTEGER NOT NULL,
    source_seq       INTEGER NOT NULL,
    PRIMARY KEY (run_id, account, symbol, product, ts_ns)
);
CREATE INDEX IF NOT EXISTS positions_account_ts ON position_snapshots (account, ts_ns);

CREATE TABLE IF NOT EXISTS candles (
    symbol         TEXT    NOT NULL,
    spec           TEXT    NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER NOT NULL,
    open_paise     INTEGER NOT NULL,
    high_paise     INTEGER NOT NULL,
    low_paise      INTEGER NOT NULL,
    close_paise    INTEGER NOT NULL,
    volume         INTEGER NOT NULL,
    trades         INTEGER NOT NULL,
    turnover_paise INTEGER NOT NULL,
    oi             INTEGER NOT NULL,
    amended        INTEGER NOT NULL,
    PRIMARY KEY (symbol, spec, start_ns)
);

CREATE TABLE IF NOT EXISTS risk_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT    NOT NULL,
    source_seq INTEGER NOT NULL,
    sub        INTEGER NOT NULL,
    ts_ns      INTEGER NOT NULL,
    account    TEXT,
    kind       TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    UNIQUE (run_id, source_seq, sub)
);
CREATE INDEX IF NOT EXISTS risk_events_ts ON risk_events (ts_ns);
CREATE INDEX IF NOT EXISTS risk_events_account_ts ON risk_events (account, ts_ns);

CREATE TABLE IF NOT EXISTS audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT    NOT NULL,
    source_seq INTEGER,
    sub        INTEGER NOT NULL DEFAULT 0,
    ts_ns      INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    UNIQUE (run_id, source_seq, sub)
);
CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts_ns);
