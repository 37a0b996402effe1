-- Accounts and access (owned by src/api/accounts): users with roles, web sessions, API tokens,
-- the sign-in limiter and the append-only audit log. Secrets are never stored: passwords as
-- argon2id hashes, session cookies and API tokens as SHA-256 of 256-bit random values.

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    login           text NOT NULL UNIQUE CHECK (login ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
    display_name    text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    password_hash   text,
    roles           text[] NOT NULL DEFAULT '{}'
                    CHECK (roles <@ ARRAY['admin', 'technician', 'duty', 'naturalist', 'viewer']),
    disabled_at     timestamptz,
    -- Set by an admin's reset: the one-time password must be replaced at the next sign-in.
    must_change_password boolean NOT NULL DEFAULT false,
    password_changed_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE web_sessions (
    id              bigserial PRIMARY KEY,
    token_hash      bytea NOT NULL UNIQUE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The synchroniser token every state-changing browser request must carry.
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    ip              inet,
    user_agent      text CHECK (length(user_agent) <= 400)
);
CREATE INDEX web_sessions_user ON web_sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE api_tokens (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- The first characters of the token, so a person can tell their tokens apart.
    prefix          text NOT NULL,
    token_hash      bytea NOT NULL UNIQUE,
    roles           text[] NOT NULL
                    CHECK (roles <@ ARRAY['admin', 'technician', 'duty', 'naturalist', 'viewer']
                           AND cardinality(roles) > 0),
    created_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    last_used_at    timestamptz
);

-- Sign-in attempts per key ('compte:<login>' or 'ip:<address>') in a fixed window, in the
-- database so the limit holds across restarts and across API processes.
CREATE TABLE signin_attempts (
    key             text PRIMARY KEY CHECK (length(key) <= 300),
    attempts        integer NOT NULL,
    window_start    timestamptz NOT NULL
);

CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    -- No foreign key: the entry must outlive whatever it names.
    actor_id        bigint,
    actor           text NOT NULL,
    action          text NOT NULL CHECK (action ~ '^[a-z_.]{1,64}$'),
    target          text CHECK (length(target) <= 300),
    ip              inet,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at DESC);

-- Append-only: whoever can write the table (the API's role included) can only add to it.
CREATE FUNCTION vigie_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'le journal d''audit est en ajout seul (% refusé)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION vigie_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION vigie_audit_log_append_only();

-- Grants for the API's database role, when the deployment has one (privilege-db's roles; the
-- same decisions are in 300_accounts.grants.toml for its registry).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vigie_api') THEN
        GRANT SELECT, INSERT, UPDATE ON users, web_sessions, api_tokens TO vigie_api;
        GRANT SELECT, INSERT, UPDATE, DELETE ON signin_attempts TO vigie_api;
        GRANT SELECT, INSERT ON audit_log TO vigie_api;
        GRANT USAGE ON SEQUENCE users_id_seq, web_sessions_id_seq, api_tokens_id_seq,
            audit_log_id_seq TO vigie_api;
    END IF;
END $$;
