-- Proof of warning for the mayor's Plan Communal de Sauvegarde: an append-only, hash-chained
-- record of every message of an incident (queued, then each attempt's outcome).
--
-- Written by triggers, so that whoever writes deliveries (the notifier today, a replayed
-- exercise tomorrow) extends the chain the same way and no code path can forget it. Each row
-- stores the exact text it hashed (`payload`, jsonb's canonical text: sorted keys, no spaces)
-- and the hash of the row before it; vigie.proof recomputes the chain. A row edited, deleted or
-- inserted in the middle breaks every hash after it, and the head printed on an export no
-- longer matches.

CREATE TABLE delivery_proof (
    incident_id bigint NOT NULL,
    seq         integer NOT NULL CHECK (seq >= 1),
    delivery_id bigint NOT NULL,
    event       text NOT NULL CHECK (event IN ('queued', 'accepted', 'refused', 'retry', 'given_up')),
    at          timestamptz NOT NULL,
    payload     text NOT NULL,
    prev_hash   text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash        text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (incident_id, seq)
);
-- No foreign key: the proof must outlive a delivery or an incident deleted by mistake.

CREATE FUNCTION vigie_proof_append(p_incident bigint, p_delivery bigint, p_event text,
                                   p_at timestamptz, p_payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    last_seq  integer;
    last_hash text;
    body      text := p_payload::text;
BEGIN
    -- One writer per incident at a time, or two transactions would both chain onto the same row.
    PERFORM pg_advisory_xact_lock(hashtextextended('vigie_delivery_proof', p_incident));
    SELECT seq, hash INTO last_seq, last_hash
      FROM delivery_proof WHERE incident_id = p_incident ORDER BY seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0);
    last_hash := coalesce(last_hash, repeat('0', 64));
    INSERT INTO delivery_proof (incident_id, seq, delivery_id, event, at, payload, prev_hash, hash)
    VALUES (p_incident, last_seq + 1, p_delivery, p_event, p_at, body, last_hash,
            encode(sha256(convert_to(last_hash || E'\n' || body, 'UTF8')), 'hex'));
END
$$;

-- Timestamps go into the payload as UTC ISO 8601 text with microseconds, spelled here once.
CREATE FUNCTION vigie_proof_ts(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

CREATE FUNCTION vigie_proof_on_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.incident_id IS NOT NULL THEN
        PERFORM vigie_proof_append(NEW.incident_id, NEW.id, 'queued',
            NEW.created_at,
            jsonb_build_object('event', 'queued', 'delivery', NEW.id, 'incident', NEW.incident_id,
                'change', NEW.incident_change_id, 'subscriber', NEW.subscriber_id,
                'channel_index', NEW.channel_index, 'channel', NEW.channel_kind,
                'purpose', NEW.purpose, 'level', NEW.level, 'at', vigie_proof_ts(NEW.created_at)));
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION vigie_proof_on_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE d deliveries%ROWTYPE;
BEGIN
    SELECT * INTO d FROM deliveries WHERE id = NEW.delivery_id;
    IF d.incident_id IS NOT NULL THEN
        PERFORM vigie_proof_append(d.incident_id, d.id, NEW.outcome, NEW.at,
            jsonb_build_object('event', NEW.outcome, 'delivery', d.id, 'incident', d.incident_id,
                'attempt', NEW.id, 'subscriber', d.subscriber_id, 'channel', d.channel_kind,
                'at', vigie_proof_ts(NEW.at), 'detail', NEW.detail,
                -- what was sent, by its hash: the text itself stays in deliveries.message
                'message_sha256', CASE WHEN d.message IS NULL THEN NULL
                    ELSE encode(sha256(convert_to(coalesce(d.subject, '') || E'\n' || d.message,
                                                  'UTF8')), 'hex') END));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER deliveries_proof AFTER INSERT ON deliveries
    FOR EACH ROW EXECUTE FUNCTION vigie_proof_on_delivery();
CREATE TRIGGER delivery_attempts_proof AFTER INSERT ON delivery_attempts
    FOR EACH ROW EXECUTE FUNCTION vigie_proof_on_attempt();

-- Append-only, whoever asks: the chain is only worth something if rows cannot be rewritten.
CREATE FUNCTION vigie_proof_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'delivery_proof is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER delivery_proof_append_only BEFORE UPDATE OR DELETE ON delivery_proof
    FOR EACH ROW EXECUTE FUNCTION vigie_proof_refuse_change();
CREATE TRIGGER delivery_proof_no_truncate BEFORE TRUNCATE ON delivery_proof
    FOR EACH STATEMENT EXECUTE FUNCTION vigie_proof_refuse_change();
