-- create_hypertable made a (ts DESC) index on rain_readings by default. Every query reads by
-- station and time, which the (station_id, ts) primary key serves; the extra index only cost a
-- second B-tree insertion per reading (about a fifth of ingest's insert time, measured with
-- bench/ingest.py). drop_chunks works on chunk bounds and needs no index.
DROP INDEX IF EXISTS rain_readings_ts_idx;
