-- Camera worker (src/camera): cameras with their Camtrap DP deployment fields, motion events
-- with their clip files, and one health row per camera.

CREATE TABLE cameras (
    id                       text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    name                     text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Stored as given: it may carry a password, so it is a secret that never reaches a log or
    -- an API answer unredacted.
    source_url               text NOT NULL CHECK (length(source_url) BETWEEN 1 AND 2000),
    source_kind              text NOT NULL
                             CHECK (source_kind IN ('rtsp', 'mjpeg', 'snapshot', 'file')),
    snapshot_interval_s      double precision NOT NULL DEFAULT 2
                             CHECK (snapshot_interval_s > 0 AND snapshot_interval_s <= 3600),
    -- Camtrap DP "deployment": where, how and when the camera watched.
    location_name            text,
    lat                      double precision CHECK (lat BETWEEN -90 AND 90),
    lon                      double precision CHECK (lon BETWEEN -180 AND 180),
    coordinate_uncertainty_m integer CHECK (coordinate_uncertainty_m >= 1),
    habitat                  text,
    feature_type             text,
    camera_model             text,
    camera_height_m          double precision CHECK (camera_height_m >= 0),
    deployment_start         timestamptz,
    deployment_end           timestamptz,
    motion_config            jsonb NOT NULL DEFAULT '{}'::jsonb
                             CHECK (jsonb_typeof(motion_config) = 'object'),
    -- pre_roll_s, post_roll_s, gap_s, max_clip_s (camera.config.EventConfig).
    event_config             jsonb NOT NULL DEFAULT '{}'::jsonb
                             CHECK (jsonb_typeof(event_config) = 'object'),
    retention_days           integer NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 36500),
    enabled                  boolean NOT NULL DEFAULT true,
    favourite                boolean NOT NULL DEFAULT false,
    created_at               timestamptz NOT NULL DEFAULT now(),
    CHECK (deployment_end IS NULL OR deployment_start IS NULL OR deployment_end > deployment_start)
);

CREATE TABLE camera_events (
    id                bigserial PRIMARY KEY,
    camera_id         text NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    -- File stem under media/<camera>/<YYYY>/<MM>/<DD>/; unique per camera.
    event_key         text NOT NULL,
    start_ts          timestamptz NOT NULL,
    end_ts            timestamptz CHECK (end_ts IS NULL OR end_ts >= start_ts),
    -- First frame of the clip: start_ts minus the pre-roll actually available.
    clip_start_ts     timestamptz,
    peak_score        double precision CHECK (peak_score >= 0),
    peak_ts           timestamptz,
    -- [{"t": seconds from clip_start_ts, "x", "y", "w", "h"}, ...], normalised 0-1: overlays.
    boxes             jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(boxes) = 'array'),
    clip_path         text,
    snapshot_path     text,
    thumbnail_path    text,
    media_bytes       bigint NOT NULL DEFAULT 0 CHECK (media_bytes >= 0),
    -- Why a clip is missing (disk full, encoder error); NULL when the files were written.
    media_error       text,
    status            text NOT NULL DEFAULT 'new'
                      CHECK (status IN ('new', 'reviewed', 'false_positive')),
    favourite         boolean NOT NULL DEFAULT false,
    part              integer NOT NULL DEFAULT 1 CHECK (part >= 1),
    previous_event_id bigint REFERENCES camera_events (id) ON DELETE SET NULL,
    -- Set by whoever records an observation on this event; retention keeps such clips.
    has_observations  boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (camera_id, event_key)
);
CREATE INDEX camera_events_camera_start ON camera_events (camera_id, start_ts DESC);
CREATE INDEX camera_events_start ON camera_events (start_ts);

CREATE TABLE camera_health (
    camera_id      text PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
    state          text NOT NULL
                   CHECK (state IN ('starting', 'online', 'lost', 'error', 'stopped')),
    last_frame_at  timestamptz,
    width          integer,
    height         integer,
    fps_in         double precision NOT NULL DEFAULT 0,
    fps_processed  double precision NOT NULL DEFAULT 0,
    frames_in      bigint NOT NULL DEFAULT 0,
    frames_dropped bigint NOT NULL DEFAULT 0,
    reconnects     integer NOT NULL DEFAULT 0,
    disk_state     text NOT NULL DEFAULT 'ok' CHECK (disk_state IN ('ok', 'full')),
    last_error     text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
