-- The live stream (GET /api/v1/live) reads new readings by the time ingest received them, on
-- every NOTIFY and to resume a client from its Last-Event-ID: without an index that would scan
-- every chunk of the hypertable.
CREATE INDEX IF NOT EXISTS rain_readings_received_at ON rain_readings (received_at);
