-- Backtest reports kept for the console (`dalal backtest --save`): the page itself, its
-- metrics.json, and the accounts it covers, which decide who may read it.
CREATE TABLE IF NOT EXISTS reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ns  INTEGER NOT NULL,
    run_label   TEXT    NOT NULL,
    account     TEXT,
    accounts    TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    metrics     TEXT    NOT NULL,
    html        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_created ON reports (created_ns);
