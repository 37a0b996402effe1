-- A species' reference picture, chosen by a naturalist: a frame of a clip (an event and a time
-- in it) that the review's viewer shows beside any clip where that species is observed. No
-- picture of the species list can be shipped with a licence checked (issue 11 §2), so the
-- project's own clips provide them. One per species; choosing another replaces it.
CREATE TABLE species_reference_frames (
    scientific_name text PRIMARY KEY CHECK (length(scientific_name) BETWEEN 1 AND 200),
    event_id        bigint NOT NULL REFERENCES camera_events (id) ON DELETE CASCADE,
    -- Seconds from the clip's first frame.
    at_s            double precision NOT NULL CHECK (at_s >= 0 AND at_s <= 86400),
    chosen_by       text NOT NULL,
    chosen_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX species_reference_frames_event ON species_reference_frames (event_id);
