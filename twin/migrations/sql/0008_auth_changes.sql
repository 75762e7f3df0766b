-- Tell every server process when a session or an account changes in a way that matters to requests already
-- authenticated (revocation, expiry, scope, role, disablement), so that they forget the principals they keep
-- in memory (twin.security.principal_cache). Sign-ins (failed attempts, last sign-in) do not fire it.

CREATE FUNCTION auth.notify_change() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('auth_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER sessions_changed AFTER UPDATE OF revoked_at, expires_at, scope, account_id OR DELETE OR TRUNCATE
    ON auth.sessions FOR EACH STATEMENT EXECUTE FUNCTION auth.notify_change();
CREATE TRIGGER accounts_changed AFTER UPDATE OF role, disabled, username OR DELETE OR TRUNCATE
    ON auth.accounts FOR EACH STATEMENT EXECUTE FUNCTION auth.notify_change();
