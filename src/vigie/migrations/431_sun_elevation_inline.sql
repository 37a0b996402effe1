-- vigie_sun_elevation (migration 400) as one expression, so that PostgreSQL inlines it into the
-- query that calls it: the WITH form ran through the SQL-function executor at each call,
-- ~80 µs a row on this machine, which every events page paid 50 times (its day/night column)
-- and a day/night filter paid for every event it walked. Same formulas (NOAA's low-precision
-- ones), same results (checked to 1e-9 degree on a year of timestamps when written).
-- Its parts, each one expression too (inlined in turn): the fractional year in radians, the
-- equation of time in minutes, the declination in radians.
CREATE FUNCTION vigie_sun_year_angle(ts timestamptz)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 2 * pi() / 365.0
           * extract(epoch FROM ts AT TIME ZONE 'UTC' - date_trunc('year', ts AT TIME ZONE 'UTC'))::float8 / 86400.0
$$;

CREATE FUNCTION vigie_sun_equation_of_time(y double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 229.18 * (0.000075 + 0.001868 * cos(y) - 0.032077 * sin(y) - 0.014615 * cos(2 * y) - 0.040849 * sin(2 * y))
$$;

CREATE FUNCTION vigie_sun_declination(y double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT 0.006918 - 0.399912 * cos(y) + 0.070257 * sin(y) - 0.006758 * cos(2 * y)
           + 0.000907 * sin(2 * y) - 0.002697 * cos(3 * y) + 0.00148 * sin(3 * y)
$$;

CREATE OR REPLACE FUNCTION vigie_sun_elevation(ts timestamptz, lat double precision, lon double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT degrees(asin(greatest(-1.0, least(1.0,
        sin(radians(lat)) * sin(vigie_sun_declination(vigie_sun_year_angle(ts)))
        + cos(radians(lat)) * cos(vigie_sun_declination(vigie_sun_year_angle(ts)))
          * cos(radians((extract(epoch FROM ts AT TIME ZONE 'UTC' - date_trunc('day', ts AT TIME ZONE 'UTC'))
                         / 60.0 + vigie_sun_equation_of_time(vigie_sun_year_angle(ts)) + 4 * lon) / 4.0 - 180))))))
$$;
