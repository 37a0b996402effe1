-- Four INSEE codes seeded by 001_core were other communes' codes (60393 is Mello, not Mélicocq).
-- The official list is src/vigie/data/communes.csv (from @etalab/decoupage-administratif 6.0.0).
-- Every reference moves to the right code: stations, catchments, rules and their state, Montana
-- assignments, incidents, subscribers and the geocodes of the CAP messages already published.
-- The populations come too: the sign-up page compares subscribers with them.

ALTER TABLE communes ADD COLUMN population integer CHECK (population >= 0);

CREATE TEMPORARY TABLE insee_fix (old text PRIMARY KEY, new text NOT NULL UNIQUE) ON COMMIT DROP;
INSERT INTO insee_fix VALUES
    ('60393', '60392'),   -- Mélicocq (60393 is Mello)
    ('60420', '60423'),   -- Montmacq (60420 is Montjavoult)
    ('60491', '60492'),   -- Pimprez (60491 is Pierrefonds)
    ('60578', '60582');   -- Saint-Léger-aux-Bois (60578 is Saintines)

-- A commune's name is unique: free it on the old row, add the right row, move, then delete.
UPDATE communes c SET name = c.name || ' (code ' || c.insee || ')' FROM insee_fix f WHERE c.insee = f.old;
INSERT INTO communes (insee, name)
SELECT f.new, replace(c.name, ' (code ' || c.insee || ')', '')
  FROM insee_fix f JOIN communes c ON c.insee = f.old;

UPDATE stations s SET commune_insee = f.new FROM insee_fix f WHERE s.commune_insee = f.old;

-- Arrays of codes: map each element, keeping the order.
CREATE FUNCTION pg_temp.fix_codes(codes text[]) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(coalesce(f.new, c) ORDER BY o), '{}')
      FROM unnest(codes) WITH ORDINALITY AS u(c, o) LEFT JOIN insee_fix f ON f.old = u.c
$$;
UPDATE catchments SET communes = pg_temp.fix_codes(communes)
 WHERE communes && (SELECT array_agg(old) FROM insee_fix);
UPDATE incidents SET communes = pg_temp.fix_codes(communes)
 WHERE communes && (SELECT array_agg(old) FROM insee_fix);
UPDATE subscribers SET communes = pg_temp.fix_codes(communes)
 WHERE communes && (SELECT array_agg(old) FROM insee_fix);

UPDATE rules r SET scope_id = f.new FROM insee_fix f WHERE r.scope_kind = 'commune' AND r.scope_id = f.old;
UPDATE rule_state r SET scope_id = f.new FROM insee_fix f
 WHERE r.scope_kind = 'commune' AND r.scope_id = f.old;
UPDATE montana_assignments m SET scope_id = f.new FROM insee_fix f
 WHERE m.scope_kind = 'commune' AND m.scope_id = f.old;
UPDATE incidents i SET scope_id = f.new FROM insee_fix f
 WHERE i.scope_kind = 'commune' AND i.scope_id = f.old;

-- Published CAP messages name communes only in <geocode><valueName>INSEE</valueName><value>.
-- One pass per code: a message may carry several wrong codes, and UPDATE … FROM applies one.
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT old, new FROM insee_fix LOOP
        UPDATE cap_messages
           SET xml = regexp_replace(xml, '(<valueName>INSEE</valueName>\s*<value>)' || f.old
                                    || '(</value>)', '\1' || f.new || '\2', 'g')
         WHERE xml ~ ('<value>' || f.old || '</value>');
    END LOOP;
END
$$;

DELETE FROM communes c USING insee_fix f WHERE c.insee = f.old;

UPDATE communes c SET population = p.population
  FROM (VALUES
    ('60043', 599), ('60119', 1831), ('60147', 772), ('60150', 1093),
    ('60368', 2586), ('60373', 830), ('60378', 375), ('60392', 789),
    ('60423', 1142), ('60492', 848), ('60501', 1298), ('60537', 3871),
    ('60582', 735), ('60636', 4463), ('60642', 1037), ('60654', 254)
  ) AS p(insee, population)
 WHERE c.insee = p.insee;
ALTER TABLE communes ALTER COLUMN population SET NOT NULL;
