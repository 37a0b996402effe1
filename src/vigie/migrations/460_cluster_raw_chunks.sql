-- Raw readings arrive minute by minute across the stations, so a day's chunk holds each station's
-- rows scattered over all its pages: reading one station back (the CSV export, the raw-table
-- queries) touched about one page per 1.5 rows (bench-api, EXPLAIN: 976 pages for one station's
-- day of 1,440 rows). Rewriting a chunk in its primary key's order (station_id, ts) once the chunk
-- is past puts each station's day on a few pages. TimescaleDB's community edition has a reorder
-- policy for this; Debian's Apache build has none, and CLUSTER needs the table's owner, so ingest
-- calls this function, which runs as the owner and can only cluster raw-reading chunks.
--
-- At most p_max chunks per call: CLUSTER holds an exclusive lock on its chunk until the end of
-- the transaction, so the caller asks for one at a time. A chunk that is busy (a long export
-- holds it) is skipped after lock_timeout and tried again on a later call.
CREATE FUNCTION vigie_cluster_raw_chunks(p_older_than interval, p_max integer)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    chunk regclass;
    pk name;
BEGIN
    IF p_older_than IS NULL OR p_older_than < interval '1 hour' THEN
        RAISE EXCEPTION 'cluster age must be at least an hour, got %', p_older_than;
    END IF;
    PERFORM set_config('lock_timeout', '2s', true);
    FOR chunk, pk IN
        SELECT format('%I.%I', c.chunk_schema, c.chunk_name)::regclass, ic.relname
        FROM timescaledb_information.chunks c
        JOIN pg_index i ON i.indrelid = format('%I.%I', c.chunk_schema, c.chunk_name)::regclass
                       AND i.indisprimary AND NOT i.indisclustered
        JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE c.hypertable_schema = 'public' AND c.hypertable_name = 'rain_readings'
          AND c.range_end < now() - p_older_than
          -- A compressed chunk (the community edition compresses raw chunks after 7 days) keeps
          -- its rows in the compressed table, segmented by station already: nothing to rewrite.
          AND NOT c.is_compressed
        ORDER BY c.range_end
        LIMIT greatest(p_max, 0)
    LOOP
        BEGIN
            EXECUTE format('CLUSTER %s USING %I', chunk, pk);
            RETURN NEXT chunk::text;
        EXCEPTION WHEN lock_not_available THEN
            RAISE NOTICE 'chunk % busy, left for a later run', chunk;
        END;
    END LOOP;
END
$$;
