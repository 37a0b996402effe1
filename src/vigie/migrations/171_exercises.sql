-- Exercise mode (the five-yearly PCS exercise): an admin replays a past incident's timeline or a
-- synthetic one. Each step becomes, when due, an incident change of an EXERCISE incident, which
-- the notifier sends only to subscribers who opted in (subscribers.exercises), marked EXERCICE,
-- and the CAP writer publishes with <status>Exercise</status>. The engine never touches these
-- incidents (no rule drives them), so it neither resolves them nor sends reminders for them.
CREATE TABLE exercises (
    id                 bigserial PRIMARY KEY,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    source             text NOT NULL CHECK (source IN ('incident', 'synthetic')),
    -- No foreign key: the replayed incident may be deleted later, the exercise report stays.
    source_incident_id bigint,
    speed              double precision NOT NULL DEFAULT 1 CHECK (speed >= 1 AND speed <= 3600),
    kind               text NOT NULL,
    title              text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    scope_kind         text NOT NULL,
    scope_id           text NOT NULL,
    communes           text[] NOT NULL DEFAULT '{}',
    catchment_id       text,
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);

ALTER TABLE incidents ADD COLUMN exercise_id bigint REFERENCES exercises (id) ON DELETE CASCADE;
CREATE INDEX incidents_exercise ON incidents (exercise_id) WHERE exercise_id IS NOT NULL;
ALTER TABLE exercises ADD COLUMN incident_id bigint REFERENCES incidents (id) ON DELETE SET NULL;

CREATE TABLE exercise_steps (
    exercise_id        bigint NOT NULL REFERENCES exercises (id) ON DELETE CASCADE,
    seq                integer NOT NULL CHECK (seq >= 1),
    due_at             timestamptz NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('opened', 'escalated', 'deescalated', 'resolved')),
    level              text NOT NULL CHECK (level IN ('yellow', 'orange', 'red')),
    previous_level     text,
    value              double precision,
    unit               text NOT NULL DEFAULT '',
    window_min         integer,
    summary            text NOT NULL DEFAULT '',
    done_at            timestamptz,
    incident_change_id bigint REFERENCES incident_changes (id) ON DELETE SET NULL,
    PRIMARY KEY (exercise_id, seq)
);
CREATE INDEX exercise_steps_due ON exercise_steps (due_at) WHERE done_at IS NULL;

-- Opt-in: nobody receives an exercise message without asking for it.
ALTER TABLE subscribers ADD COLUMN exercises boolean NOT NULL DEFAULT false;
