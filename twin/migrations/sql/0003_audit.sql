-- The audit trail: every write to the territory and to accounts (through the API or straight from QGIS), every
-- read of restricted data and every sign-in, in one append-only table whose entries are chained by SHA-256.
--
-- Who can do what:
--   * nobody (not even the owner) can UPDATE, DELETE or TRUNCATE audit.entries: a statement trigger raises;
--   * GIS logins (hyperviseur_gis_editor) have no privilege on the audit schema: their edits reach it only
--     through the SECURITY DEFINER write triggers, which record session_user as the database user;
--   * only the application's own role (the role that ran this migration) may name the application user
--     (hyperviseur.actor, hyperviseur.client_addr) or ask for bulk summaries (hyperviseur.bulk_import):
--     any other login is recorded as itself, whatever it sets.
-- A superuser can still disable triggers: `hyperviseur audit verify` is what detects that kind of tampering.

CREATE SCHEMA audit;
REVOKE ALL ON SCHEMA audit FROM PUBLIC;

-- The role the application connects as; baked in so that the per-row trigger does not look it up.
DO $$
BEGIN
    EXECUTE format(
        'CREATE FUNCTION audit.app_role() RETURNS name LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
        format('SELECT %L::name', current_user));
END $$;

CREATE TABLE audit.entries (
    -- Assigned by the chain trigger (last id + 1 under the chain lock), so that ids have no gaps and a missing
    -- id means a removed entry; a sequence would leave gaps at every rolled-back transaction.
    id           bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    db_user      text NOT NULL,
    client_addr  text,
    action       text NOT NULL CHECK (action ~ '^[A-Z][A-Z_]{1,31}$'),
    object       text NOT NULL,
    object_id    text,
    before       jsonb,
    after        jsonb,
    details      jsonb,
    prev_hash    bytea,
    hash         bytea NOT NULL
);
CREATE INDEX entries_at_idx ON audit.entries (at);
COMMENT ON TABLE audit.entries IS
    'Append-only audit trail; hash = sha256(prev_hash || canonical entry), see audit.entry_hash.';

-- One row, only ever locked (FOR UPDATE), never updated: serialises the chain between transactions without
-- growing a chain of row versions, and unlike an advisory lock no other login can take it.
CREATE TABLE audit.chain_lock (one boolean PRIMARY KEY DEFAULT true CHECK (one));
INSERT INTO audit.chain_lock DEFAULT VALUES;

-- The canonical form of an entry: a JSON array (unambiguous separators) of its fields, the time as integer
-- microseconds since the epoch (independent of the TimeZone setting), the jsonb values in their canonical text.
-- `hyperviseur audit verify` recomputes every hash with this same function and checks its definition.
CREATE FUNCTION audit.entry_hash(
    prev_hash bytea, id bigint, at timestamptz, actor text, db_user text, client_addr text, action text,
    object text, object_id text, before jsonb, after jsonb, details jsonb
) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT pg_catalog.sha256(
    coalesce(prev_hash, '\x'::bytea) || pg_catalog.convert_to(pg_catalog.jsonb_build_array(
        id, (extract(epoch FROM at) * 1000000)::bigint, actor, db_user, client_addr, action, object, object_id,
        before, after, details)::text, 'UTF8'))
$$;

CREATE FUNCTION audit.lock_chain() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Held until commit: audited transactions append one after the other, so ids stay gapless and ordered.
    PERFORM 1 FROM audit.chain_lock FOR UPDATE;
    RETURN NULL;
END $$;

CREATE FUNCTION audit.chain_entry() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_app boolean := session_user = audit.app_role();
    last_id bigint;
    last_hash bytea;
BEGIN
    -- A row-level BEFORE trigger sees the rows already inserted by the same statement.
    SELECT e.id, e.hash INTO last_id, last_hash FROM audit.entries e ORDER BY e.id DESC LIMIT 1;
    NEW.id := coalesce(last_id, 0) + 1;
    NEW.prev_hash := last_hash;
    NEW.at := clock_timestamp();
    NEW.db_user := session_user;
    IF is_app THEN
        NEW.actor := coalesce(NEW.actor, nullif(current_setting('hyperviseur.actor', true), ''), session_user);
        NEW.client_addr := coalesce(NEW.client_addr,
            nullif(current_setting('hyperviseur.client_addr', true), ''), host(inet_client_addr()));
    ELSE
        NEW.actor := session_user;
        NEW.client_addr := host(inet_client_addr());
    END IF;
    NEW.hash := audit.entry_hash(NEW.prev_hash, NEW.id, NEW.at, NEW.actor, NEW.db_user, NEW.client_addr,
        NEW.action, NEW.object, NEW.object_id, NEW.before, NEW.after, NEW.details);
    RETURN NEW;
END $$;

CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'audit.entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'entries are never changed or removed; export them with `hyperviseur audit export`';
END $$;

CREATE TRIGGER entries_0_lock BEFORE INSERT ON audit.entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit.lock_chain();
CREATE TRIGGER entries_1_chain BEFORE INSERT ON audit.entries
    FOR EACH ROW EXECUTE FUNCTION audit.chain_entry();
CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();

-- Writes to audited tables. One statement = one INSERT ... SELECT from the transition tables, whatever the
-- number of rows. TG_ARGV[0]: the key column; TG_ARGV[1]: the select list that turns a row `r` into what the
-- trail keeps (built by audit.audit_table: secrets left out, geometries as EWKT, which costs a seventh of
-- PostGIS's GeoJSON cast that to_jsonb would use).
-- Under hyperviseur.bulk_import (honoured for the application's own role only) a statement leaves one summary
-- entry (row count and SHA-256 of the rows' canonical text) instead of one entry per row.
CREATE FUNCTION audit.record_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    obj text := TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME;
    key_col text := TG_ARGV[0];
    rows_of text := '(SELECT to_jsonb(s) AS j FROM (SELECT ' || TG_ARGV[1] || ' FROM %I r) s)';
    bulk boolean := session_user = audit.app_role()
        AND coalesce(current_setting('hyperviseur.bulk_import', true), '') IN ('on', 'true', '1');
BEGIN
    IF bulk THEN
        EXECUTE format('INSERT INTO audit.entries (action, object, details)'
            ' SELECT %L, %L, jsonb_build_object(''bulk'', true, ''rows'', count(*), ''sha256'','
            ' encode(sha256(convert_to(coalesce(string_agg(j::text, chr(10)), ''''), ''UTF8'')), ''hex''))'
            ' FROM ' || rows_of || ' x HAVING count(*) > 0',
            TG_OP, obj, CASE WHEN TG_OP = 'DELETE' THEN 'old_rows' ELSE 'new_rows' END);
    ELSIF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO audit.entries (action, object, object_id, after)'
            ' SELECT ''INSERT'', %L, j ->> %L, j FROM ' || rows_of || ' x', obj, key_col, 'new_rows');
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format('INSERT INTO audit.entries (action, object, object_id, before)'
            ' SELECT ''DELETE'', %L, j ->> %L, j FROM ' || rows_of || ' x', obj, key_col, 'old_rows');
    ELSE
        -- Only the columns that changed, before and after (a one-attribute edit of a building does not copy
        -- its footprint twice); rows are paired on the key, a changed key shows as a pair of half rows.
        EXECUTE format('INSERT INTO audit.entries (action, object, object_id, before, after)'
            ' SELECT ''UPDATE'', %1$L, coalesce(n.j ->> %2$L, o.j ->> %2$L),'
            ' coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(o.j) e'
            '           WHERE n.j IS NULL OR (n.j -> e.key) IS DISTINCT FROM e.value), ''{}''),'
            ' coalesce((SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(n.j) e'
            '           WHERE o.j IS NULL OR (o.j -> e.key) IS DISTINCT FROM e.value), ''{}'')'
            ' FROM ' || format(rows_of, 'old_rows') || ' o FULL JOIN ' || format(rows_of, 'new_rows')
            || ' n ON (o.j -> %2$L) = (n.j -> %2$L)', obj, key_col);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION audit.record_truncate() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO n;
    INSERT INTO audit.entries (action, object, details)
    VALUES ('TRUNCATE', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, jsonb_build_object('rows', n));
    RETURN NULL;
END $$;

-- Attach the write triggers to a table (future migrations call this for every new table). Columns holding
-- secrets are left out of the trail: those listed, plus any *_enc, password*, *token*, *secret* column.
CREATE FUNCTION audit.audit_table(tbl regclass, key_col text DEFAULT 'id', exclude text[] DEFAULT '{}')
RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    projection text;
    args text;
BEGIN
    SELECT string_agg(CASE WHEN t.typname IN ('geometry', 'geography')
                           THEN format('public.st_asewkt(r.%1$I) AS %1$I', a.attname)
                           ELSE format('r.%I', a.attname) END, ', ' ORDER BY a.attnum)
    INTO projection
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
      AND NOT (a.attname::text = ANY (exclude) OR a.attname ~ '(_enc$|^password|token|secret)');
    args := format('%L, %L', key_col, projection);
    EXECUTE format('DROP TRIGGER IF EXISTS audit_insert ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS audit_update ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS audit_delete ON %s', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS audit_truncate ON %s', tbl);
    EXECUTE format('CREATE TRIGGER audit_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit.record_write(%s)', tbl, args);
    EXECUTE format('CREATE TRIGGER audit_update AFTER UPDATE ON %s'
                   ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit.record_write(%s)', tbl, args);
    EXECUTE format('CREATE TRIGGER audit_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS old_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit.record_write(%s)', tbl, args);
    EXECUTE format('CREATE TRIGGER audit_truncate BEFORE TRUNCATE ON %s'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION audit.record_truncate()', tbl);
END $$;

DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT c.oid::regclass AS tbl, c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = 'twin' AND c.relkind IN ('r', 'p') ORDER BY c.relname LOOP
        PERFORM audit.audit_table(t.tbl, CASE WHEN t.relname = 'layer_catalog' THEN 'name' ELSE 'id' END);
    END LOOP;
END $$;
SELECT audit.audit_table('auth.accounts', 'id',
    ARRAY['password_hash', 'email_enc', 'phone_enc', 'totp_secret_enc']);

-- Nobody but the owner touches the trail; the owner itself may only insert (through the triggers) and read.
REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA audit FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit.entries FROM CURRENT_USER;
