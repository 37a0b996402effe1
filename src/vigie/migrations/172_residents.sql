-- Residents who sign themselves up (public API, double opt-in). A confirmed resident gets a
-- `subscribers` row (one channel, built from the sign-up gateway settings), so the notifier
-- warns them like any other subscriber; unsubscribing sets that row inactive at once.
-- RGPD: deleting a resident deletes this row and scrubs the subscriber (no address, no name
-- left), so the delivery log and its proof chain stay whole without personal data.
CREATE TABLE residents (
    id              bigserial PRIMARY KEY,
    commune_insee   text NOT NULL REFERENCES communes (insee) ON UPDATE CASCADE ON DELETE CASCADE,
    min_level       text NOT NULL CHECK (min_level IN ('yellow', 'orange', 'red')),
    channel         text NOT NULL CHECK (channel IN ('sms', 'email')),
    -- E.164 French mobile number, or a lower-cased e-mail address: personal data.
    address         text NOT NULL CHECK (length(address) BETWEEN 3 AND 254),
    exercises       boolean NOT NULL DEFAULT false,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'active', 'unsubscribed')),
    -- The sign-up request's handle (returned to the form) and the SMS code's salted hash.
    request_key     text NOT NULL UNIQUE,
    code_hash       text,
    code_expires_at timestamptz,
    code_attempts   integer NOT NULL DEFAULT 0,
    -- The resident's own key: e-mail confirmation link, unsubscribe link, deletion.
    token           text NOT NULL UNIQUE,
    consent_text    text NOT NULL,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,          -- the consent, with its time (double opt-in done)
    unsubscribed_at timestamptz,
    subscriber_id   bigint UNIQUE REFERENCES subscribers (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX residents_one_active ON residents (channel, address, commune_insee)
    WHERE state = 'active';
CREATE INDEX residents_address ON residents (channel, address);

-- Rate limits of the sign-up form, per address and per IP, in fixed windows. Keys are hashes
-- (sha256 of the address or IP), never the address itself. In the database so that the limit
-- holds across API processes and restarts.
CREATE TABLE signup_limits (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    window_s     integer NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (key, window_s, window_start)
);
CREATE INDEX signup_limits_old ON signup_limits (window_start);
