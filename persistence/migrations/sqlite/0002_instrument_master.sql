-- A broker's instrument master as last imported (`dalal instruments import --store`): every
-- contract taken, with the broker's token, so tools can look instruments up without the file.
CREATE TABLE IF NOT EXISTS instrument_master (
    broker       TEXT    NOT NULL,
    exchange     TEXT    NOT NULL,
    symbol       TEXT    NOT NULL,
    token        INTEGER NOT NULL,
    segment      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    tick_paise   INTEGER NOT NULL,
    lot          INTEGER NOT NULL,
    expiry       TEXT,
    strike_paise INTEGER,
    option_type  TEXT,
    imported_ns  INTEGER NOT NULL,
    PRIMARY KEY (broker, exchange, symbol)
);
CREATE INDEX IF NOT EXISTS instrument_master_token ON instrument_master (broker, token);
