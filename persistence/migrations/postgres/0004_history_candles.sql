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
