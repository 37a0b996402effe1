-- What residents should do, per commune and level ("consignes"), edited by an admin. The
-- defaults are in vigie/instructions.py (one civil-protection wording per level); a row here
-- replaces the default for one commune and one level, and deleting it brings the default back.
-- 'end' is the end-of-alert message. `sms` is the short form that must fit beside the alert
-- in one SMS; `text` goes into the e-mail, the CAP <instruction> and the public page.
CREATE TABLE commune_instructions (
    commune_insee text NOT NULL REFERENCES communes (insee) ON UPDATE CASCADE ON DELETE CASCADE,
    level         text NOT NULL CHECK (level IN ('yellow', 'orange', 'red', 'end')),
    text          text NOT NULL CHECK (length(text) BETWEEN 1 AND 1000),
    sms           text NOT NULL CHECK (length(sms) BETWEEN 1 AND 90),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL,
    PRIMARY KEY (commune_insee, level)
);
