-- Accounts, sign-in sessions. Personal data (e-mail, phone) is stored encrypted by the application
-- (AES-256-GCM, key id inside the ciphertext): the database never sees it in clear.

CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.accounts (
    id                   bigserial PRIMARY KEY,
    username             text NOT NULL UNIQUE CHECK (username ~ '^[a-z][a-z0-9._-]{1,62}$'),
    display_name         text,
    role                 text NOT NULL CHECK (role IN
                             ('admin', 'operator', 'planner', 'crew', 'gis_editor', 'analyst')),
    password_hash        text,
    email_enc            bytea,
    phone_enc            bytea,
    totp_secret_enc      bytea,
    totp_enabled         boolean NOT NULL DEFAULT false,
    totp_last_step       bigint,  -- last 30-second step whose code was used: a code works once
    disabled             boolean NOT NULL DEFAULT false,
    failed_attempts      integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    locked_until         timestamptz,
    oidc_issuer          text,
    oidc_subject         text,
    pg_login             text UNIQUE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    password_changed_at  timestamptz,
    last_signin_at       timestamptz,
    UNIQUE (oidc_issuer, oidc_subject),
    CHECK (password_hash IS NOT NULL OR oidc_subject IS NOT NULL)
);
COMMENT ON COLUMN auth.accounts.email_enc IS 'Personal data, encrypted by the application (see twin.security.crypto).';
COMMENT ON COLUMN auth.accounts.pg_login IS 'PostgreSQL login of a gis_editor (QGIS), created with limited grants.';

CREATE TABLE auth.sessions (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES auth.accounts ON DELETE CASCADE,
    token_sha256  bytea NOT NULL UNIQUE,
    scope         text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'enroll_totp')),
    method        text NOT NULL CHECK (method IN ('password', 'oidc')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    client_addr   inet,
    user_agent    text
);
CREATE INDEX sessions_account_idx ON auth.sessions (account_id);

-- Short-lived state of OIDC sign-ins in progress (state, nonce, PKCE verifier).
CREATE TABLE auth.oidc_pending (
    state          text PRIMARY KEY,
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    return_to      text NOT NULL DEFAULT '/',
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Group role for QGIS logins of GIS staff: read every layer table, edit the editable ones.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'hyperviseur_gis_editor') THEN
        CREATE ROLE hyperviseur_gis_editor NOLOGIN;
    END IF;
END $$;
GRANT USAGE ON SCHEMA twin TO hyperviseur_gis_editor;
GRANT SELECT ON ALL TABLES IN SCHEMA twin TO hyperviseur_gis_editor;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA twin TO hyperviseur_gis_editor;
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT DISTINCT table_name FROM twin.layer_catalog WHERE editable LOOP
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON twin.%I TO hyperviseur_gis_editor', t);
    END LOOP;
END $$;
