-- Core data path: communes, stations, readings (hypertable), rollups, device status, dead letters.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE communes (
    insee text PRIMARY KEY CHECK (insee ~ '^60[0-9]{3}$'),
    name  text NOT NULL UNIQUE
);

-- The 16 communes of the Communauté de communes des Deux Vallées (Oise).
INSERT INTO communes (insee, name) VALUES
    ('60043', 'Bailly'),
    ('60119', 'Cambronne-lès-Ribécourt'),
    ('60147', 'Chevincourt'),
    ('60150', 'Chiry-Ourscamp'),
    ('60368', 'Longueil-Annel'),
    ('60373', 'Machemont'),
    ('60378', 'Marest-sur-Matz'),
    ('60393', 'Mélicocq'),
    ('60420', 'Montmacq'),
    ('60491', 'Pimprez'),
    ('60501', 'Le Plessis-Brion'),
    ('60537', 'Ribécourt-Dreslincourt'),
    ('60578', 'Saint-Léger-aux-Bois'),
    ('60636', 'Thourotte'),
    ('60642', 'Tracy-le-Val'),
    ('60654', 'Vandélicourt');

CREATE TABLE stations (
    id                  text PRIMARY KEY
                        CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$' AND id !~ '^vigie-'),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    commune_insee       text NOT NULL REFERENCES communes (insee),
    lat                 double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon                 double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    altitude_m          double precision CHECK (altitude_m BETWEEN -500 AND 9000),
    tip_mm              double precision NOT NULL DEFAULT 0.2 CHECK (tip_mm > 0 AND tip_mm <= 10),
    expected_interval_s integer NOT NULL DEFAULT 300 CHECK (expected_interval_s BETWEEN 10 AND 86400),
    active              boolean NOT NULL DEFAULT true,
    dev_eui             text UNIQUE CHECK (dev_eui ~ '^[0-9a-f]{16}$'),
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- One row per reporting interval. (station_id, ts) is the idempotency key: a redelivered or
-- duplicated message hits ON CONFLICT DO NOTHING and never reaches the rollups.
-- No foreign key to stations: ingest already joins stations to route unknown ids to the
-- dead-letter table, and a per-row FK check would halve COPY throughput.
CREATE TABLE rain_readings (
    station_id  text NOT NULL,
    ts          timestamptz NOT NULL,          -- end of the interval, UTC
    interval_s  integer NOT NULL CHECK (interval_s > 0),
    seq         bigint,
    tips        integer CHECK (tips >= 0),     -- NULL when unknown (counter baseline, late counter)
    counter     bigint,
    mm          double precision,              -- tips × the station's tip size at ingest time
    battery_v   real,
    rssi        smallint,
    flags       smallint NOT NULL DEFAULT 0,   -- bit set, see vigie.quality
    received_at timestamptz NOT NULL,
    PRIMARY KEY (station_id, ts)
);
SELECT create_hypertable('rain_readings', by_range('ts', INTERVAL '1 day'));

-- Rollups maintained by ingest from the rows it actually inserted (RETURNING), so they work on
-- the Apache edition (no continuous aggregates) and never count a duplicate twice.
-- A reading is put in the bucket that holds the end of its interval minus 1 µs, so a reading
-- for 10:00–10:05 (ts = 10:05) lands in the 10:00 bucket.
CREATE TABLE rain_5min (
    station_id text NOT NULL,
    bucket     timestamptz NOT NULL,
    mm         double precision NOT NULL,
    readings   integer NOT NULL,
    PRIMARY KEY (station_id, bucket)
);
SELECT create_hypertable('rain_5min', by_range('bucket', INTERVAL '7 days'));

CREATE TABLE rain_1h (
    station_id text NOT NULL,
    bucket     timestamptz NOT NULL,
    mm         double precision NOT NULL,
    readings   integer NOT NULL,
    PRIMARY KEY (station_id, bucket)
);
SELECT create_hypertable('rain_1h', by_range('bucket', INTERVAL '30 days'));

CREATE TABLE device_status (
    station_id        text PRIMARY KEY REFERENCES stations (id) ON DELETE CASCADE,
    last_seen         timestamptz,     -- when ingest last received anything from it
    last_ts           timestamptz,     -- newest reading time stored
    last_seq          bigint,
    battery_v         real,
    rssi              smallint,
    fw                text,
    clock_offset_s    real,            -- device ts − received_at of its newest live reading
    online            boolean,
    status_changed_at timestamptz
);

CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    payload      bytea NOT NULL,          -- at most the first 4 KiB
    payload_size integer NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL DEFAULT '',
    station_id   text
);
CREATE INDEX dead_letters_received_at ON dead_letters (received_at);
CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at);

-- Cumulative counters per ingest worker, written in the same transaction as each batch, so the
-- API's /metrics agrees with what is stored and survives restarts.
CREATE TABLE ingest_metrics (
    worker     text PRIMARY KEY,
    updated_at timestamptz NOT NULL,
    counters   jsonb NOT NULL
);

-- Compression where the licence allows it (community edition only).
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE rain_readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'station_id');
        PERFORM add_compression_policy('rain_readings', INTERVAL '7 days');
    END IF;
END
$$;
