-- Heartbeats of the services' real work loops (src/vigie/heartbeat.py). `vigie up` is another
-- process than its children and the API may sit in another container, so the database, which
-- every service already reaches, is the one place all of them can read. Each process upserts its
-- rows at most once per liveness.report_s, whatever its loops' rate.
CREATE TABLE service_heartbeats (
    host text NOT NULL,
    pid integer NOT NULL,
    service text NOT NULL,
    loop text NOT NULL,
    -- The loop's last turn, as the reporting process saw it (now() minus its age at report).
    beat_at timestamptz NOT NULL,
    -- The loop's own declared limit: no beat for longer than this means it is stalled.
    max_interval_s double precision NOT NULL CHECK (max_interval_s > 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    reported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, pid, service, loop)
);
