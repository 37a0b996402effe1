-- The naturalists' review (issue 11 §1, owned by src/api/review): deployments (Camtrap DP: a
-- camera at a place for a period), each user's review state of an event, observations on
-- events with their history, and the day/night test that the events list filters on.

-- Two deployments of one camera must not overlap: an event belongs to exactly one.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE deployments (
    id                       bigserial PRIMARY KEY,
    camera_id                text NOT NULL REFERENCES cameras (id) ON DELETE CASCADE,
    location_name            text CHECK (length(location_name) BETWEEN 1 AND 200),
    lat                      double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon                      double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    coordinate_uncertainty_m integer CHECK (coordinate_uncertainty_m BETWEEN 1 AND 100000),
    habitat                  text CHECK (length(habitat) <= 500),
    feature_type             text CHECK (feature_type IN ('roadPaved', 'roadDirt', 'trailHiking',
                             'trailGame', 'roadUnderpass', 'roadOverpass', 'roadBridge', 'culvert',
                             'burrow', 'nestSite', 'carcass', 'waterSource', 'fruitingTree')),
    camera_height_m          double precision CHECK (camera_height_m BETWEEN 0 AND 100),
    camera_tilt_deg          integer CHECK (camera_tilt_deg BETWEEN -90 AND 90),
    camera_heading_deg       integer CHECK (camera_heading_deg BETWEEN 0 AND 360),
    setup_by                 text CHECK (length(setup_by) <= 200),
    comments                 text CHECK (length(comments) <= 5000),
    start_ts                 timestamptz NOT NULL,
    -- NULL while the camera is still there.
    end_ts                   timestamptz CHECK (end_ts IS NULL OR end_ts > start_ts),
    created_by               text NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT deployments_no_overlap EXCLUDE USING gist (
        camera_id WITH =, tstzrange(start_ts, end_ts, '[)') WITH &&
    )
);

-- Reviewed by whom: each naturalist has their own "seen" state ("mark as not reviewed" deletes
-- the row). camera_events.status says whether anyone reviewed it, or that it is a false positive.
CREATE TABLE event_reviews (
    event_id    bigint NOT NULL REFERENCES camera_events (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reviewed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_reviews_user ON event_reviews (user_id, event_id);

CREATE TABLE observations (
    id                  bigserial PRIMARY KEY,
    event_id            bigint NOT NULL REFERENCES camera_events (id) ON DELETE CASCADE,
    observation_type    text NOT NULL DEFAULT 'animal'
                        CHECK (observation_type IN ('animal', 'human', 'vehicle', 'blank', 'unknown', 'unclassified')),
    scientific_name     text CHECK (length(scientific_name) BETWEEN 1 AND 200),
    -- False when the name is not in the species list (accepted, with a warning).
    in_species_list     boolean NOT NULL DEFAULT false,
    vernacular_name     text CHECK (length(vernacular_name) <= 200),
    count               integer CHECK (count BETWEEN 1 AND 10000),
    life_stage          text CHECK (life_stage IN ('adult', 'subadult', 'juvenile')),
    sex                 text CHECK (sex IN ('female', 'male')),
    behavior            text CHECK (length(behavior) <= 500),
    individual_id       text CHECK (length(individual_id) <= 100),
    comments            text CHECK (length(comments) <= 5000),
    -- Camtrap DP bbox: top-left corner and size, normalised to the frame (0..1).
    bbox_x              double precision CHECK (bbox_x BETWEEN 0 AND 1),
    bbox_y              double precision CHECK (bbox_y BETWEEN 0 AND 1),
    bbox_w              double precision CHECK (bbox_w > 0 AND bbox_w <= 1),
    bbox_h              double precision CHECK (bbox_h > 0 AND bbox_h <= 1),
    -- Seconds from the clip's first frame.
    event_start_s       double precision CHECK (event_start_s >= 0),
    event_end_s         double precision CHECK (event_end_s >= 0),
    classified_by_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    classified_by       text NOT NULL,
    classification_ts   timestamptz NOT NULL DEFAULT now(),
    status              text NOT NULL DEFAULT 'proposed'
                        CHECK (status IN ('proposed', 'validated', 'rejected')),
    validated_by_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    validated_by        text,
    validated_at        timestamptz,
    validation_comment  text CHECK (length(validation_comment) <= 2000),
    -- The observation this one corrects (a validator's correction rejects the original).
    corrects_id         bigint REFERENCES observations (id) ON DELETE SET NULL,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((bbox_x IS NULL) = (bbox_y IS NULL) AND (bbox_x IS NULL) = (bbox_w IS NULL)
           AND (bbox_x IS NULL) = (bbox_h IS NULL)),
    CHECK (bbox_x IS NULL OR (bbox_x + bbox_w <= 1.000001 AND bbox_y + bbox_h <= 1.000001)),
    CHECK (event_end_s IS NULL OR event_start_s IS NULL OR event_end_s >= event_start_s),
    CHECK (observation_type <> 'animal' OR scientific_name IS NOT NULL)
);
CREATE INDEX observations_event ON observations (event_id);
CREATE INDEX observations_species ON observations (scientific_name, event_id) WHERE status <> 'rejected';

-- Every change of an observation, kept after the observation is deleted (no foreign key).
CREATE TABLE observation_history (
    id             bigserial PRIMARY KEY,
    observation_id bigint NOT NULL,
    event_id       bigint NOT NULL,
    version        integer NOT NULL,
    action         text NOT NULL CHECK (action IN ('created', 'updated', 'validated', 'rejected',
                                                   'corrected', 'deleted')),
    actor_id       bigint,
    actor          text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    -- The observation as it stood after the change (before it, for a deletion).
    snapshot       jsonb NOT NULL
);
CREATE INDEX observation_history_observation ON observation_history (observation_id, id);

-- Solar elevation in degrees (NOAA's low-precision formulas, within a few tenths of a degree),
-- so that "day" and "night" are the sun's at the deployment, not fixed hours.
CREATE FUNCTION vigie_sun_elevation(ts timestamptz, lat double precision, lon double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH t AS (
        SELECT extract(epoch FROM ts AT TIME ZONE 'UTC' - date_trunc('year', ts AT TIME ZONE 'UTC'))
                   / 86400.0 AS day_frac,
               extract(epoch FROM ts AT TIME ZONE 'UTC' - date_trunc('day', ts AT TIME ZONE 'UTC'))
                   / 60.0 AS minutes
    ), g AS (
        SELECT 2 * pi() / 365.0 * day_frac AS y, minutes FROM t
    ), s AS (
        SELECT 229.18 * (0.000075 + 0.001868 * cos(y) - 0.032077 * sin(y)
                         - 0.014615 * cos(2 * y) - 0.040849 * sin(2 * y)) AS eqtime,
               0.006918 - 0.399912 * cos(y) + 0.070257 * sin(y) - 0.006758 * cos(2 * y)
                 + 0.000907 * sin(2 * y) - 0.002697 * cos(3 * y) + 0.00148 * sin(3 * y) AS decl,
               minutes
        FROM g
    )
    SELECT degrees(asin(greatest(-1.0, least(1.0,
        sin(radians(lat)) * sin(decl)
        + cos(radians(lat)) * cos(decl) * cos(radians((minutes + eqtime + 4 * lon) / 4.0 - 180))))))
    FROM s
$$;

-- The review's confidence sort reads camera_events in (confidence, id) order, page after page
-- (keyset): without it every page sorted every event (p50 163 ms at 100,000 events, 20 ms with
-- it). The start sort needs none: camera_events_start, with an incremental sort on id, serves it.
CREATE INDEX camera_events_confidence_id ON camera_events (confidence, id);
