-- How sure the camera worker is that an event holds an animal, and which guard doubted it.
-- Motion a weather or light guard doubts (just after a light change or the IR switch) is kept
-- as an event with a low confidence instead of being dropped; the review app sorts and filters
-- by these two columns (docs/camera.md, "Confidence and doubt").
ALTER TABLE camera_events
    ADD COLUMN confidence  real NOT NULL DEFAULT 1.0 CHECK (confidence >= 0 AND confidence <= 1),
    -- NULL when no guard doubted the event; else the guard's name.
    -- (a name, not a fixed list: a new guard needs no migration).
    ADD COLUMN doubt_guard text CHECK (doubt_guard IS NULL OR doubt_guard ~ '^[a-z_]{1,40}$');

-- "Doubtful events of this camera first" and "hide doubtful events" both read this index.
CREATE INDEX camera_events_camera_confidence ON camera_events (camera_id, confidence, start_ts DESC);
