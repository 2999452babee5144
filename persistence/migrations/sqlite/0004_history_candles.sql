-- Bars imported from outside (a broker's historical endpoint, NSE bhavcopy files) by
-- `dalal data import`, kept apart from `candles`, which holds the bars the engine built
-- itself: a paper run on synthetic ticks must never overwrite a real history.
CREATE TABLE IF NOT EXISTS history_candles (
    symbol       TEXT   NOT NULL,
    timeframe    TEXT   NOT NULL,
    start_ns     INTEGER NOT NULL,
    open_paise   INTEGER NOT NULL,
    high_paise   INTEGER NOT NULL,
    low_paise    INTEGER NOT NULL,
    close_paise  INTEGER NOT NULL,
    volume       INTEGER NOT NULL,
    oi           INTEGER,
    source       TEXT   NOT NULL,
    imported_ns  INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe, start_ns)
);

-- What `history_candles` holds per symbol, timeframe and source, kept in the same transaction
-- as every import, so listing the store and checking the candle cache read a few rows
-- instead of counting every bar.
CREATE TABLE IF NOT EXISTS history_series (
    symbol       TEXT   NOT NULL,
    timeframe    TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    bars         INTEGER NOT NULL,
    first_ns     INTEGER NOT NULL,
    last_ns      INTEGER NOT NULL,
    imported_ns  INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe, source)
);
