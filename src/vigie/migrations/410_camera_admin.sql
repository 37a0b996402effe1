-- Cameras managed from the API and the admin pages (issue 11 §1 "Cameras").
--
-- The API writes a camera's stream URL but never reads it back: the URL may carry a password
-- that only the camera worker needs. What the API reads and shows is source_url_safe, the URL
-- with its secrets masked as vigie.logs.redact() masks them (user:***@, ***@ for a lone token,
-- password=*** and the like in the query), computed here so that a camera added by the command
-- line or the config file has it too. tests/api/test_cameras_api.py compares both maskings.
ALTER TABLE cameras
    ADD COLUMN source_url_safe text GENERATED ALWAYS AS (
        regexp_replace(
            regexp_replace(
                regexp_replace(source_url,
                    '^([a-zA-Z][a-zA-Z0-9+.-]*://)([^:/?#@[:space:]]*):[^?#[:space:]]*@', '\1\2:***@'),
                '^([a-zA-Z][a-zA-Z0-9+.-]*://)[^:/?#@[:space:]]+@', '\1***@'),
            '\y([[:alnum:]_]*(password|passwd|pwd|secret|token|api_?key|apikey)[[:alnum:]_]*|key)=[^&[:space:]"'',;]+',
            '\1=***', 'gi')
    ) STORED,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
