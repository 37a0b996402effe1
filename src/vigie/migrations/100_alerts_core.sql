-- Alerts core (owned by src/alerts, the engine): rules, catchments, Montana sets, incidents and
-- their timeline, which is also the notification outbox. Contract: docs in
-- briefs/alerts-shared-schema.md; columns may be added, never renamed.

-- Rules. scope_id '*' means "every scope of that kind" (every station, commune or catchment):
-- the seeded defaults use it, so a new gauge is watched without anyone writing a rule.
CREATE TABLE rules (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL
                CHECK (kind IN ('accumulation', 'intensity', 'return_period', 'runoff', 'station_health')),
    scope_kind  text NOT NULL CHECK (scope_kind IN ('station', 'catchment', 'commune')),
    scope_id    text NOT NULL CHECK (length(scope_id) BETWEEN 1 AND 64),
    level       text NOT NULL CHECK (level IN ('yellow', 'orange', 'red')),
    params      jsonb NOT NULL,
    audience    text NOT NULL DEFAULT 'public' CHECK (audience IN ('public', 'technicians')),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rules_enabled ON rules (kind) WHERE enabled;

CREATE TABLE catchments (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    area_km2    double precision NOT NULL CHECK (area_km2 > 0 AND area_km2 <= 100000),
    cn2         double precision NOT NULL CHECK (cn2 > 0 AND cn2 <= 100),
    communes    text[] NOT NULL DEFAULT '{}',      -- INSEE codes
    upstream    text[] NOT NULL DEFAULT '{}',      -- ids of catchments upstream of this one
    polygon     jsonb,                             -- GeoJSON Polygon, lon/lat
    montana     jsonb,                             -- optional inline Montana coefficients
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Thiessen-style weights; the engine normalises over the stations that have data.
CREATE TABLE catchment_stations (
    catchment_id text NOT NULL REFERENCES catchments (id) ON DELETE CASCADE,
    station_id   text NOT NULL REFERENCES stations (id) ON DELETE CASCADE,
    weight       double precision NOT NULL DEFAULT 1 CHECK (weight > 0),
    PRIMARY KEY (catchment_id, station_id)
);
CREATE INDEX catchment_stations_station ON catchment_stations (station_id);

-- Montana coefficients: {"bands": [{"min_duration_min": 6, "max_duration_min": 60,
--   "coefficients": {"5": {"a": .., "b": ..}, "10": .., ...}}, ...]}, h(t) = a·t^(1−b), h mm, t min.
CREATE TABLE montana_sets (
    id           text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    label        text NOT NULL,
    is_example   boolean NOT NULL DEFAULT false,
    coefficients jsonb NOT NULL
);

-- Which set applies where: the most specific wins (station, then catchment, then commune,
-- then the 'default' row).
CREATE TABLE montana_assignments (
    scope_kind text NOT NULL CHECK (scope_kind IN ('station', 'catchment', 'commune', 'default')),
    scope_id   text NOT NULL,
    set_id     text NOT NULL REFERENCES montana_sets (id) ON DELETE CASCADE,
    PRIMARY KEY (scope_kind, scope_id)
);

CREATE TABLE incidents (
    id               bigserial PRIMARY KEY,
    rule_id          bigint REFERENCES rules (id) ON DELETE SET NULL,  -- the rule driving the level
    kind             text NOT NULL,
    -- Rules of one kind and window (yellow/orange/red) share a group: ONE incident whose level moves.
    group_key        text NOT NULL,
    scope_kind       text NOT NULL,
    scope_id         text NOT NULL,
    level            text NOT NULL CHECK (level IN ('yellow', 'orange', 'red')),
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    audience         text NOT NULL DEFAULT 'public' CHECK (audience IN ('public', 'technicians')),
    communes         text[] NOT NULL DEFAULT '{}',
    catchment_id     text,
    title            text NOT NULL,
    opened_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    resolved_at      timestamptz,
    level_since      timestamptz NOT NULL,
    max_level        text NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    ack_comment      text,
    last_value       double precision,
    window_min       integer,
    last_reminder_at timestamptz
);
CREATE UNIQUE INDEX incidents_open_rule ON incidents (rule_id, scope_kind, scope_id)
    WHERE state = 'open';
CREATE UNIQUE INDEX incidents_open_group ON incidents (group_key, scope_kind, scope_id)
    WHERE state = 'open';
CREATE INDEX incidents_opened_at ON incidents (opened_at DESC);
CREATE INDEX incidents_state_level ON incidents (state, level);
CREATE INDEX incidents_communes ON incidents USING gin (communes);

-- The timeline AND the outbox: a row with notify = true is written in the same transaction as
-- the incident change, and the notifier drains it.
CREATE TABLE incident_changes (
    id             bigserial PRIMARY KEY,
    incident_id    bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at             timestamptz NOT NULL,
    kind           text NOT NULL CHECK (kind IN
                   ('opened', 'escalated', 'deescalated', 'resolved', 'acknowledged', 'reminder')),
    level          text NOT NULL,
    previous_level text,
    value          double precision,
    window_min     integer,
    detail         jsonb NOT NULL DEFAULT '{}',
    notify         boolean NOT NULL DEFAULT true
);
CREATE INDEX incident_changes_incident ON incident_changes (incident_id, id);
CREATE INDEX incident_changes_notify ON incident_changes (id) WHERE notify;

-- Per (rule, scope) state of the hysteresis / "for" machine. Only non-idle rows are kept, so the
-- minute sweep reads what is in progress and nothing else.
CREATE TABLE rule_state (
    rule_id      bigint NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    scope_kind   text NOT NULL,
    scope_id     text NOT NULL,
    active       boolean NOT NULL DEFAULT false,
    raise_since  timestamptz,
    clear_since  timestamptz,
    last_value   double precision,
    evaluated_at timestamptz NOT NULL,
    PRIMARY KEY (rule_id, scope_kind, scope_id)
);

-- Engine cursors (e.g. 'device_status.last_seen' high-water mark), so a restarted engine
-- re-evaluates the stations it did not see while it was down.
CREATE TABLE engine_state (
    key        text PRIMARY KEY,
    at         timestamptz,
    value      jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Acknowledgement, shared by the API (which never imports the engine) and the engine: one
-- UPDATE plus one timeline row, in the caller's transaction. Returns the change id, or NULL when
-- the incident is not open or was already acknowledged.
CREATE FUNCTION vigie_acknowledge_incident(p_incident bigint, p_by text, p_comment text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    inc incidents%ROWTYPE;
    change_id bigint;
BEGIN
    UPDATE incidents SET acknowledged_at = now(), acknowledged_by = p_by, ack_comment = p_comment,
                         updated_at = now()
     WHERE id = p_incident AND state = 'open' AND acknowledged_at IS NULL
    RETURNING * INTO inc;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO incident_changes (incident_id, at, kind, level, previous_level, value, window_min,
                                  detail, notify)
    VALUES (inc.id, now(), 'acknowledged', inc.level, inc.level, inc.last_value, inc.window_min,
            jsonb_build_object('by', p_by, 'comment', p_comment,
                               'summary', 'Incident pris en compte par ' || p_by),
            false)
    RETURNING id INTO change_id;
    PERFORM pg_notify('vigie_incident_change', change_id::text);
    RETURN change_id;
END
$$;

-- EXAMPLE Montana coefficients: illustrative values shaped like northern-France IDF curves, NOT
-- official Météo-France values. Replace with the coefficients of your reference station.
INSERT INTO montana_sets (id, label, is_example, coefficients) VALUES (
    'exemple-nord',
    'EXEMPLE — coefficients illustratifs, non officiels (ne pas utiliser pour décider)',
    true,
    '{"bands": [
      {"min_duration_min": 6, "max_duration_min": 60, "coefficients": {
        "5": {"a": 4.195, "b": 0.574}, "10": {"a": 5.039, "b": 0.564},
        "20": {"a": 5.885, "b": 0.558}, "30": {"a": 6.185, "b": 0.544},
        "50": {"a": 7.156, "b": 0.551}, "100": {"a": 7.884, "b": 0.539}}},
      {"min_duration_min": 60, "max_duration_min": 1440, "coefficients": {
        "5": {"a": 9.826, "b": 0.782}, "10": {"a": 13.122, "b": 0.798},
        "20": {"a": 16.488, "b": 0.809}, "30": {"a": 19.099, "b": 0.819},
        "50": {"a": 22.154, "b": 0.827}, "100": {"a": 26.403, "b": 0.834}}}
    ]}'::jsonb
);
INSERT INTO montana_assignments (scope_kind, scope_id, set_id) VALUES ('default', '*', 'exemple-nord');

-- Default rules, applied to every station / catchment ('*'). Thresholds are starting points for
-- small urban catchments of the Oise; tune them locally.
INSERT INTO rules (name, kind, scope_kind, scope_id, level, params, audience) VALUES
    ('Cumul 1 h — jaune', 'accumulation', 'station', '*', 'yellow',
     '{"window_min": 60, "raise": 15, "clear": 10, "for_min": 0}', 'public'),
    ('Cumul 1 h — orange', 'accumulation', 'station', '*', 'orange',
     '{"window_min": 60, "raise": 30, "clear": 20, "for_min": 0}', 'public'),
    ('Cumul 1 h — rouge', 'accumulation', 'station', '*', 'red',
     '{"window_min": 60, "raise": 45, "clear": 35, "for_min": 0}', 'public'),
    ('Cumul 24 h — jaune', 'accumulation', 'station', '*', 'yellow',
     '{"window_min": 1440, "raise": 40, "clear": 30, "for_min": 0}', 'public'),
    ('Cumul 24 h — orange', 'accumulation', 'station', '*', 'orange',
     '{"window_min": 1440, "raise": 60, "clear": 45, "for_min": 0}', 'public'),
    ('Intensité — jaune', 'intensity', 'station', '*', 'yellow',
     '{"raise": 30, "clear": 15, "for_min": 5, "min_span_min": 5}', 'public'),
    ('Intensité — orange', 'intensity', 'station', '*', 'orange',
     '{"raise": 60, "clear": 40, "for_min": 5, "min_span_min": 5}', 'public'),
    ('Période de retour — intense (APIC)', 'return_period', 'station', '*', 'orange',
     '{"raise": 10, "clear": 5, "for_min": 0}', 'public'),
    ('Période de retour — très intense (APIC)', 'return_period', 'station', '*', 'red',
     '{"raise": 50, "clear": 20, "for_min": 0}', 'public'),
    ('Ruissellement — jaune', 'runoff', 'catchment', '*', 'yellow',
     '{"measure": "q_mm", "window_min": 1440, "raise": 5, "clear": 2, "for_min": 0}', 'public'),
    ('Ruissellement — orange', 'runoff', 'catchment', '*', 'orange',
     '{"measure": "q_mm", "window_min": 1440, "raise": 15, "clear": 10, "for_min": 0}', 'public'),
    ('Ruissellement — rouge', 'runoff', 'catchment', '*', 'red',
     '{"measure": "q_mm", "window_min": 1440, "raise": 30, "clear": 20, "for_min": 0}', 'public'),
    ('Station muette', 'station_health', 'station', '*', 'orange',
     '{"check": "no_data", "raise": 3, "clear": 1.5, "for_min": 0}', 'technicians'),
    ('Batterie faible', 'station_health', 'station', '*', 'yellow',
     '{"check": "low_battery", "raise": 3.4, "clear": 3.5, "for_min": 30}', 'technicians'),
    ('Colmatage suspecté', 'station_health', 'station', '*', 'yellow',
     '{"check": "clogging", "raise": 5, "clear": 1, "for_min": 0, "radius_km": 5, "window_min": 60}',
     'technicians'),
    ('Compteur bloqué', 'station_health', 'station', '*', 'yellow',
     '{"check": "stuck_counter", "raise": 12, "clear": 2, "for_min": 0}', 'technicians'),
    ('Horloge décalée', 'station_health', 'station', '*', 'yellow',
     '{"check": "clock_skew", "raise": 120, "clear": 30, "for_min": 10}', 'technicians');
