-- Database roles (docs/security.md, "Database roles and secrets"). One NOLOGIN group role per
-- service holds that service's grants; a NOLOGIN owner role owns every object. None of them can
-- log in and none has a password: `vigie db roles` creates each deployment's LOGIN members with
-- passwords, outside the migrations.
--
-- Roles are cluster-wide while this runs once per database (and the tests copy a template for
-- every test, with several test sessions on one server), so creation is idempotent and survives
-- a concurrent CREATE ROLE of the same name from another database. The grants themselves are
-- per database: they live in the *.grants.toml files beside the migrations and are re-applied
-- by every `vigie migrate` (vigie.grants).
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['vigie_owner', 'vigie_ingest', 'vigie_alerts', 'vigie_camera', 'vigie_api']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another database's migration created it between our check and now
            END;
        END IF;
    END LOOP;
END
$$;

-- The owner may create objects (a non-superuser migration login that is a member of it can run
-- later migrations); the services only resolve names in the schema.
GRANT USAGE, CREATE ON SCHEMA public TO vigie_owner;
GRANT USAGE ON SCHEMA public TO vigie_ingest, vigie_alerts, vigie_camera, vigie_api;

-- drop_chunks needs the hypertable's owner. Rather than make ingest an owner, its retention job
-- calls this function, which runs as the owner (vigie.grants hands it to vigie_owner) and can do
-- nothing but drop raw-reading chunks older than a positive age.
CREATE FUNCTION vigie_drop_raw_chunks(p_older_than interval)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_older_than IS NULL OR p_older_than <= interval '0' THEN
        RAISE EXCEPTION 'retention age must be positive, got %', p_older_than;
    END IF;
    RETURN QUERY SELECT drop_chunks('rain_readings', older_than => now() - p_older_than)::text;
END
$$;
