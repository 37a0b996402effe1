-- Alerts notifications (owned by src/alerts, the notifier): subscribers, the deliveries the
-- dispatcher expands from the incident_changes outbox, every delivery attempt (the mayor's proof
-- that the warning went out) and the CAP 1.2 messages. Contract: briefs/alerts-shared-schema.md.

CREATE TABLE subscribers (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Empty communes AND empty catchments mean "the whole territory" (crisis cell, mayor).
    communes    text[] NOT NULL DEFAULT '{}',      -- INSEE codes
    catchments  text[] NOT NULL DEFAULT '{}',      -- catchment ids; upstream ones are included
    min_level   text NOT NULL DEFAULT 'yellow' CHECK (min_level IN ('yellow', 'orange', 'red')),
    -- [{"kind": "email"|"sms"|"webhook", "url": "<Apprise URL: SECRET, never logged>"}]
    channels    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(channels) = 'array'),
    quiet_start time,
    quiet_end   time,
    timezone    text NOT NULL DEFAULT 'Europe/Paris',
    audience    text NOT NULL DEFAULT 'public' CHECK (audience IN ('public', 'technicians')),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
CREATE INDEX subscribers_communes ON subscribers USING gin (communes) WHERE active;
CREATE INDEX subscribers_catchments ON subscribers USING gin (catchments) WHERE active;

-- One row per incident change the dispatcher has expanded into deliveries, written in the same
-- transaction as the deliveries: expansion happens exactly once (CAP messages rely on their own
-- UNIQUE key instead). A high-water mark on the id would be wrong: ids are taken at INSERT, so a
-- change can commit after a later one.
CREATE TABLE notification_progress (
    incident_change_id bigint PRIMARY KEY REFERENCES incident_changes (id) ON DELETE CASCADE,
    expanded_at        timestamptz NOT NULL,
    deliveries         integer NOT NULL DEFAULT 0
);

-- One row per (incident change, subscriber, channel): the UNIQUE key is what makes each level
-- change reach each recipient's channel once. Test sends have no incident change.
CREATE TABLE deliveries (
    id                 bigserial PRIMARY KEY,
    incident_change_id bigint REFERENCES incident_changes (id) ON DELETE CASCADE,
    incident_id        bigint REFERENCES incidents (id) ON DELETE CASCADE,
    subscriber_id      bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    channel_index      integer NOT NULL CHECK (channel_index >= 0),
    channel_kind       text NOT NULL CHECK (channel_kind IN ('email', 'sms', 'webhook')),
    purpose            text NOT NULL DEFAULT 'alert'
                       CHECK (purpose IN ('alert', 'end', 'reminder', 'test')),
    level              text CHECK (level IN ('yellow', 'orange', 'red')),
    -- Pending rows with one group_key go out as ONE message (same subscriber, channel, place).
    group_key          text NOT NULL,
    state              text NOT NULL DEFAULT 'pending'
                       CHECK (state IN ('pending', 'sending', 'accepted', 'refused', 'given_up')),
    attempts           integer NOT NULL DEFAULT 0,
    -- Grouping hold / quiet hours: not sent before this (unless its group goes out earlier).
    not_before         timestamptz NOT NULL DEFAULT now(),
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    -- While 'sending': past this, the sender is presumed dead (see docs/alerts.md, "crash").
    lease_until        timestamptz,
    grouped_into       bigint REFERENCES deliveries (id) ON DELETE SET NULL,
    requested_by       text,                    -- who asked for a test send
    subject            text,
    message            text,                    -- exactly what was sent (no channel URL)
    created_at         timestamptz NOT NULL DEFAULT now(),
    sent_at            timestamptz,
    UNIQUE (incident_change_id, subscriber_id, channel_index)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_group ON deliveries (group_key) WHERE state = 'pending';
CREATE INDEX deliveries_sending ON deliveries (lease_until) WHERE state = 'sending';
CREATE INDEX deliveries_incident ON deliveries (incident_id, subscriber_id, channel_index);

-- Every attempt and its outcome, with its time: listable per incident. NO secrets in detail.
CREATE TABLE delivery_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('accepted', 'refused', 'retry', 'given_up')),
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, at);

-- The delivery log of one incident, for the API and for the mayor: one row per attempt.
CREATE VIEW incident_delivery_log AS
SELECT d.incident_id, d.id AS delivery_id, d.incident_change_id, d.subscriber_id,
       s.name AS subscriber_name, d.channel_index, d.channel_kind, d.purpose, d.level,
       d.state, d.grouped_into, a.at, a.outcome, a.detail
  FROM deliveries d
  JOIN subscribers s ON s.id = d.subscriber_id
  LEFT JOIN delivery_attempts a ON a.delivery_id = d.id;

-- CAP 1.2 messages (owned by src/alerts/cap.py, the CapWriter): one per public incident change
-- of kind opened/escalated/deescalated/resolved. The UNIQUE change id makes writing idempotent
-- (INSERT … ON CONFLICT DO NOTHING) across restarts and with two writers. The XML is stored as
-- sent, never rebuilt: a published message must not change under its identifier. sender and
-- headline are kept beside it so that <references> and the Atom feed need not parse the XML.
CREATE TABLE cap_messages (
    id                 bigserial PRIMARY KEY,
    incident_id        bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    incident_change_id bigint NOT NULL UNIQUE REFERENCES incident_changes (id) ON DELETE CASCADE,
    identifier         text NOT NULL UNIQUE CHECK (identifier ~ '^[^[:space:],<&]+$'),
    sender             text NOT NULL CHECK (sender ~ '^[^[:space:],<&]+$'),
    msg_type           text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
    sent               timestamptz NOT NULL,
    headline           text NOT NULL,
    xml                text NOT NULL
);
CREATE INDEX cap_messages_sent ON cap_messages (sent DESC);
CREATE INDEX cap_messages_incident ON cap_messages (incident_id, id);

-- Test send, for the API (which never imports the alerts package): one pending 'test' delivery
-- per channel of the subscriber, then a wake-up for the dispatcher. Returns the delivery ids.
CREATE FUNCTION vigie_request_test_send(p_subscriber bigint, p_by text)
RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    INSERT INTO deliveries (subscriber_id, channel_index, channel_kind, purpose, group_key,
                            requested_by)
    SELECT s.id, (c.ord - 1)::int, c.ch ->> 'kind', 'test',
           'test:' || s.id || ':' || (c.ord - 1) || ':' || gen_random_uuid(), p_by
      FROM subscribers s, jsonb_array_elements(s.channels) WITH ORDINALITY AS c(ch, ord)
     WHERE s.id = p_subscriber
    RETURNING id;
    PERFORM pg_notify('vigie_delivery', p_subscriber::text);
END
$$;
