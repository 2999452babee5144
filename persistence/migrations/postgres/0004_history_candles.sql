-- Bars imported from outside (a broker's historical endpoint, NSE bhavcopy files) by
-- `dalal data import`, kept apart from `candles`, which holds the bars the engine built
-- itself: a paper run on synthetic ticks must never overwrite a real history.
CREATE TABLE IF NOT EXISTS history_candles (
    symbol       TEXT   NOT NULL,
    timeframe    TEXT   NOT NULL,
    start_ns     BIGINT NOT NULL,
    open_paise   BIGINT NOT NULL,
    high_paise   BIGINT NOT NULL,
    low_paise    BIGINT NOT NULL,
    close_paise  BIGINT NOT NULL,
    volume       BIGINT NOT NULL,
    oi           BIGINT,
    source       TEXT   NOT NULL,
    imported_ns  BIGINT NOT NULL,
    PRIMARY KEY (symbol, timeframe, start_ns)
);

-- What `history_candles` holds per symbol, timeframe and source, kept in the same transaction
-- as every import, so listing the store and checking the candle cache read a few rows
-- instead of counting every bar.
CREATE TABLE IF NOT EXISTS history_series (
    symbol       TEXT   NOT NULL,
    timeframe    TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    bars         BIGINT NOT NULL,
    first_ns     BIGINT NOT NULL,
    last_ns      BIGINT NOT NULL,
    imported_ns  BIGINT NOT NULL,
    PRIMARY KEY (symbol, timeframe, source)
);
