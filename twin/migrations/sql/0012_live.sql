-- The live event log behind the WebSocket/SSE stream: every pushed event has an id, so a client that
-- reconnects asks for what it missed (Last-Event-ID). Events are written in the transaction of what they
-- announce and NOTIFYed at its commit.

CREATE SCHEMA live;

CREATE TABLE live.events (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    -- incident, detection, sensors (a batch of new latest values), log (main courante entry)…
    topic     text NOT NULL CHECK (topic ~ '^[a-z][a-z_.]{0,39}$'),
    -- Who may receive it: a layer visibility (public, internal, restricted).
    audience  text NOT NULL CHECK (audience IN ('public', 'internal', 'restricted')),
    territory_id integer REFERENCES twin.territory ON DELETE CASCADE,
    payload   jsonb NOT NULL
);
COMMENT ON TABLE live.events IS 'Pushed events, replayable by id after a reconnect; pruned after a retention period';
CREATE INDEX events_at_brin ON live.events USING brin (at);

-- Writers take a transaction-level lock so that ids commit in increasing order: a reader that has seen id
-- n never later finds a smaller id appear (which a resumed stream would skip).
CREATE FUNCTION live.emit(p_topic text, p_audience text, p_territory integer, p_payload jsonb)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('live.events'));
    INSERT INTO live.events (topic, audience, territory_id, payload)
        VALUES (p_topic, p_audience, p_territory, p_payload) RETURNING id INTO new_id;
    PERFORM pg_notify('live_events', new_id::text);
    RETURN new_id;
END $$;
COMMENT ON FUNCTION live.emit(text, text, integer, jsonb) IS 'Append a pushed event and NOTIFY live_events at commit';

-- The replay horizon: every event with an id up to pruned_through may be gone. A client resuming from an
-- older id cannot be replayed exactly and is told to reload its state (resync).
CREATE TABLE live.horizon (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO live.horizon DEFAULT VALUES;
COMMENT ON TABLE live.horizon IS 'Highest id pruned from live.events: resuming from an older id needs a resync';

-- Prune the events older than p_before (a cheap range delete on the BRIN index) and move the horizon.
CREATE FUNCTION live.prune(p_before timestamptz) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    removed integer;
    highest bigint;
BEGIN
    WITH gone AS (DELETE FROM live.events WHERE at < p_before RETURNING id)
    SELECT count(*), max(id) INTO removed, highest FROM gone;
    IF highest IS NOT NULL THEN
        UPDATE live.horizon SET pruned_through = greatest(pruned_through, highest);
    END IF;
    RETURN removed;
END $$;
COMMENT ON FUNCTION live.prune(timestamptz) IS 'Delete pushed events older than the given time; record the horizon';
