-- A device that floods is dead-lettered in aggregate (issue 13): one row per device per minute,
-- counting its excess messages and keeping the first few of them, instead of one row per
-- message. Ordinary dead letters keep messages = 1 and no flood_key.
ALTER TABLE dead_letters
    ADD COLUMN messages  integer NOT NULL DEFAULT 1 CHECK (messages >= 1),
    ADD COLUMN payloads  bytea[],   -- the kept excess payloads (each at most 4 KiB), oldest first
    ADD COLUMN flood_key text;      -- the device (station id, devEUI or topic); rows with one are aggregates
CREATE UNIQUE INDEX dead_letters_flood ON dead_letters (flood_key, received_at) WHERE flood_key IS NOT NULL;
