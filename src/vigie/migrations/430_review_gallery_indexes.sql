-- The review gallery's selective filters at 100,000 events (make bench-review, docs/review.md
-- "Measured"): each index serves one question that otherwise walks a camera's or the whole
-- period's events and throws most of them away.

-- "Doubtful events of this camera": a camera the guards never doubted answers from an empty
-- index range instead of reading its 5,000 events to find none.
CREATE INDEX camera_events_camera_doubtful ON camera_events (camera_id, start_ts DESC, id DESC)
    WHERE doubt_guard IS NOT NULL;

-- The gallery's month calendar and the statistics page count a month's (or a year's) events by
-- day and status: with status in the index they are index-only scans, not heap reads.
CREATE INDEX camera_events_start_status ON camera_events (start_ts) INCLUDE (status);
