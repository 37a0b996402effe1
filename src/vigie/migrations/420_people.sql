-- People in the frame (issue 11 §1, RGPD: forest paths have walkers). Two writers, one table
-- each: the camera worker's HOG detector proposes (person_proposals), a naturalist decides
-- (person_flags). An event is hidden from viewers and left out of exports while a naturalist
-- flagged it, or while the detector proposed it and no naturalist cleared it (the safe default:
-- a walker the detector saw stays hidden until a person says otherwise).

-- The naturalist's word, which overrides the proposal: true, a person is in it; false, cleared
-- (no person, whatever the detector said). Who and when; changes also go to the audit log.
CREATE TABLE person_flags (
    event_id      bigint PRIMARY KEY REFERENCES camera_events (id) ON DELETE CASCADE,
    person        boolean NOT NULL,
    flagged_by_id bigint REFERENCES users (id) ON DELETE SET NULL,
    flagged_by    text NOT NULL CHECK (length(flagged_by) BETWEEN 1 AND 200),
    flagged_at    timestamptz NOT NULL DEFAULT now()
);

-- The detector's view of a closed event: whether it proposes the flag, its best score, and the
-- boxes it found ([{"t": s from the clip's first frame, "x", "y", "w", "h", "score"}],
-- normalised 0-1), which the export's blurring also uses.
CREATE TABLE person_proposals (
    event_id    bigint PRIMARY KEY REFERENCES camera_events (id) ON DELETE CASCADE,
    proposed    boolean NOT NULL,
    score       real NOT NULL CHECK (score >= 0),
    boxes       jsonb NOT NULL DEFAULT '[]'::jsonb
                CHECK (jsonb_typeof(boxes) = 'array' AND jsonb_array_length(boxes) <= 200),
    frames      integer NOT NULL CHECK (frames BETWEEN 0 AND 100),
    detector    text NOT NULL CHECK (detector ~ '^[a-z0-9_-]{1,40}$'),
    proposed_at timestamptz NOT NULL DEFAULT now()
);
-- "Events the detector proposed" for the gallery; most events have none.
CREATE INDEX person_proposals_proposed ON person_proposals (event_id) WHERE proposed;
