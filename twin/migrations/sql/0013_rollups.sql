-- Downsampled readings for long ranges (hourly and daily buckets per sensor, in UTC), the watermark of the
-- incremental rollup (it reads "what arrived since the last run" through the received_at BRIN of 0009).
-- Raw monthly partitions older than the retention are dropped whole once rolled up (sensing/retention.py).

CREATE TABLE sensing.readings_hourly (
    sensor_id  bigint NOT NULL REFERENCES twin.sensors ON DELETE CASCADE,
    -- Start of the UTC hour.
    bucket     timestamptz NOT NULL,
    n          integer NOT NULL CHECK (n > 0),
    mean       double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    PRIMARY KEY (sensor_id, bucket)
);
COMMENT ON TABLE sensing.readings_hourly IS 'Readings per sensor and UTC hour (count, mean, min, max); kept after raw partitions are dropped';

CREATE TABLE sensing.readings_daily (
    sensor_id  bigint NOT NULL REFERENCES twin.sensors ON DELETE CASCADE,
    -- Start of the UTC day.
    bucket     timestamptz NOT NULL,
    n          integer NOT NULL CHECK (n > 0),
    mean       double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    PRIMARY KEY (sensor_id, bucket)
);
COMMENT ON TABLE sensing.readings_daily IS 'Readings per sensor and UTC day (count, mean, min, max); kept after raw partitions are dropped';

-- One row: every reading received before `watermark` is in the rollups.
CREATE TABLE sensing.rollup_state (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    watermark  timestamptz NOT NULL DEFAULT '-infinity',
    ran_at     timestamptz
);
INSERT INTO sensing.rollup_state DEFAULT VALUES;
COMMENT ON TABLE sensing.rollup_state IS 'Rollup watermark: readings received before it are in readings_hourly/daily';

-- Recompute every hourly and daily bucket of the given (sensor, UTC day) pairs from the raw readings.
-- Whole days are recomputed, so a late reading re-rolls its hour and its day; running it twice changes nothing.
-- '24 hours', not '1 day': interval arithmetic on timestamptz follows the session time zone's DST.
CREATE FUNCTION sensing.rollup_days(p_sensors bigint[], p_days timestamptz[]) RETURNS integer
LANGUAGE sql AS $$
    WITH touched AS (
        SELECT DISTINCT s AS sensor_id, date_trunc('day', d, 'UTC') AS day FROM unnest(p_sensors, p_days) AS u(s, d)
    ), hourly AS (
        INSERT INTO sensing.readings_hourly AS h (sensor_id, bucket, n, mean, min, max)
        SELECT r.sensor_id, date_trunc('hour', r.observed_at, 'UTC'), count(*), avg(r.value), min(r.value), max(r.value)
        FROM touched t JOIN sensing.readings r
          ON r.sensor_id = t.sensor_id AND r.observed_at >= t.day AND r.observed_at < t.day + interval '24 hours'
        GROUP BY 1, 2
        ON CONFLICT (sensor_id, bucket) DO UPDATE
            SET n = excluded.n, mean = excluded.mean, min = excluded.min, max = excluded.max
        RETURNING h.sensor_id, h.bucket, h.n, h.mean, h.min, h.max
    ), daily AS (
        INSERT INTO sensing.readings_daily AS d (sensor_id, bucket, n, mean, min, max)
        SELECT sensor_id, date_trunc('day', bucket, 'UTC'), sum(n), sum(mean * n) / sum(n), min(min), max(max)
        FROM hourly GROUP BY 1, 2
        ON CONFLICT (sensor_id, bucket) DO UPDATE
            SET n = excluded.n, mean = excluded.mean, min = excluded.min, max = excluded.max
        RETURNING 1
    )
    SELECT count(*)::integer FROM daily
$$;
COMMENT ON FUNCTION sensing.rollup_days(bigint[], timestamptz[]) IS 'Recompute the hourly and daily buckets of these sensor days (idempotent)';

-- Incremental rollup: the days of every reading received since the watermark, then move the watermark.
-- The new watermark is the start of the oldest transaction still open (its rows carry received_at = its
-- start and are not visible yet), so a reading committed late is picked up by the next run.
-- Returns the number of sensor days recomputed, or -1 when another run holds the lock.
CREATE FUNCTION sensing.rollup() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    old_mark timestamptz;
    new_mark timestamptz;
    sensors bigint[];
    days timestamptz[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('sensing.rollup')) THEN
        RETURN -1;
    END IF;
    SELECT watermark INTO old_mark FROM sensing.rollup_state FOR UPDATE;
    SELECT least(clock_timestamp(), min(xact_start)) INTO new_mark FROM pg_stat_activity
        WHERE pid <> pg_backend_pid() AND datname = current_database() AND xact_start IS NOT NULL
          AND backend_type = 'client backend';
    SELECT array_agg(sensor_id), array_agg(day) INTO sensors, days FROM (
        SELECT DISTINCT sensor_id, date_trunc('day', observed_at, 'UTC') AS day
        FROM sensing.readings WHERE received_at >= old_mark) AS t;
    IF sensors IS NOT NULL THEN
        PERFORM sensing.rollup_days(sensors, days);
    END IF;
    UPDATE sensing.rollup_state SET watermark = greatest(old_mark, new_mark), ran_at = clock_timestamp();
    RETURN coalesce(cardinality(sensors), 0);
END $$;
COMMENT ON FUNCTION sensing.rollup() IS 'Roll up the readings received since the last run (late readings re-roll their day)';

-- Recompute a time range for every sensor (after an import into old months, or to check): idempotent.
CREATE FUNCTION sensing.rollup(p_from timestamptz, p_to timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    sensors bigint[];
    days timestamptz[];
BEGIN
    SELECT array_agg(sensor_id), array_agg(day) INTO sensors, days FROM (
        SELECT DISTINCT sensor_id, date_trunc('day', observed_at, 'UTC') AS day
        FROM sensing.readings WHERE observed_at >= date_trunc('day', p_from, 'UTC') AND observed_at < p_to) AS t;
    IF sensors IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM sensing.rollup_days(sensors, days);
    RETURN cardinality(sensors);
END $$;
COMMENT ON FUNCTION sensing.rollup(timestamptz, timestamptz) IS 'Recompute the buckets of every sensor day in [from, to)';
