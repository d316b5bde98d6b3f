-- The tables of the revocation extension. They are extension configuration tables, so pg_dump
-- dumps their rows and a restore brings every key back.

-- Tokens are UTF-8 JSON, compared byte for byte with the text in these tables: in a database of
-- another encoding a revoked jti or sub could have other bytes than the token's and not match.
DO $$
BEGIN
    IF pg_catalog.getdatabaseencoding() <> 'UTF8' THEN
        RAISE EXCEPTION 'revocation needs a database with UTF8 encoding'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = pg_catalog.format('This database''s encoding is %s.',
                                             pg_catalog.getdatabaseencoding()),
                  HINT = 'Create the database with ENCODING ''UTF8''.';
    END IF;
END
$$;

-- One row per signing key. HMAC keys keep their secret in `secret`; RSA, EC and Ed25519 keys keep
-- a PEM public key and, when this database also signs, a PEM private key. A key verifies tokens
-- from `usable_from` until `retired_at`; the newest key in use that can sign is the one jwt_sign
-- picks. Only the owner (and whoever the owner grants) can read the rows: they hold secrets.
CREATE TABLE revocation.signing_keys (
    kid          text PRIMARY KEY
                 CHECK (kid <> '' AND octet_length(kid) <= 256),
    alg          text NOT NULL,
    secret       bytea,
    public_key   text,
    private_key  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    usable_from  timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
REVOKE ALL ON revocation.signing_keys FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('revocation.signing_keys', '');

-- The generation counter: one row. Every transaction that changes the revocation tables takes
-- the next number under this row's lock, which is held until it commits, and stamps it on every
-- row it writes, so numbers are handed out in commit order: a backend that has applied every row up to N can never be missing a row at or
-- below N, and a refresh reads only rows above it. `epoch` moves when rows are deleted, which
-- an incremental refresh cannot see; backends then reload everything. Not dumped: a restore
-- numbers the restored rows afresh.
CREATE TABLE revocation.generation (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    generation  bigint NOT NULL DEFAULT 0,
    epoch       bigint NOT NULL DEFAULT 0
);
INSERT INTO revocation.generation DEFAULT VALUES;
REVOKE ALL ON revocation.generation FROM PUBLIC;

-- One row per revoked jti: the audit trail. `invalidated_at` is when the revoking statement ran,
-- `expires_at` the token's own expiry where known (after it, the row no longer needs to be held
-- in memory), `revoked_by` the role that revoked it. Neither jti, invalidated_at nor revoked_by
-- ever changes once written.
CREATE TABLE revocation.invalidated_tokens (
    jti             text PRIMARY KEY CHECK (jti <> '' AND octet_length(jti) <= 256),
    invalidated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at      timestamptz,
    reason          text,
    revoked_by      text,
    seq             bigint NOT NULL DEFAULT 0
);
CREATE INDEX invalidated_tokens_seq ON revocation.invalidated_tokens (seq);
REVOKE ALL ON revocation.invalidated_tokens FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('revocation.invalidated_tokens', '');

-- One row each time jwt_revoke_subject moves a subject's cut-off forward: its tokens issued
-- before the latest `issued_before` are refused. Rows are never updated, so the history answers
-- "which cut-off was in force at time T".
CREATE TABLE revocation.invalidated_subjects (
    sub             text NOT NULL CHECK (sub <> '' AND octet_length(sub) <= 1024),
    issued_before   timestamptz NOT NULL,
    invalidated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    reason          text,
    revoked_by      text,
    seq             bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (sub, issued_before)
);
CREATE INDEX invalidated_subjects_seq ON revocation.invalidated_subjects (seq);
REVOKE ALL ON revocation.invalidated_subjects FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('revocation.invalidated_subjects', '');

-- Databases where every token must carry the allowlist claim (default name "dbs"). A token
-- that lists databases is held to its list everywhere; this table decides where a token that
-- lists none is refused.
CREATE TABLE revocation.database_policies (
    db             text PRIMARY KEY CHECK (db <> ''),
    require_claim  boolean NOT NULL DEFAULT true,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_by     text NOT NULL DEFAULT current_user
);
-- Who changed a policy, and when, is stamped here, not taken from the writer.
CREATE FUNCTION revocation._stamp_policy() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    NEW.updated_by := current_user;
    RETURN NEW;
END
$$;
CREATE TRIGGER stamp_policy BEFORE INSERT OR UPDATE ON revocation.database_policies
    FOR EACH ROW EXECUTE FUNCTION revocation._stamp_policy();
REVOKE ALL ON revocation.database_policies FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('revocation.database_policies', '');
-- What each table holds, for \d+ and other catalog readers.
COMMENT ON TABLE revocation.signing_keys IS
    'Signing keys: a key verifies tokens from usable_from until retired_at';
COMMENT ON COLUMN revocation.signing_keys.secret IS 'HMAC secret; NULL for other algorithms';
COMMENT ON COLUMN revocation.signing_keys.private_key IS
    'PEM private key, only where this database signs; NULL for verify-only keys';
COMMENT ON TABLE revocation.generation IS
    'Internal: the generation counter that orders revocations and tells backends to refresh';
COMMENT ON TABLE revocation.invalidated_tokens IS
    'Revoked jtis: when each was revoked, by whom, and when its token expires';
COMMENT ON COLUMN revocation.invalidated_tokens.expires_at IS
    'Expiry of the token, where known; NULL keeps the row in every backend''s memory for good';
COMMENT ON TABLE revocation.invalidated_subjects IS
    'Per-subject cut-offs: a subject''s tokens issued before issued_before are revoked';
COMMENT ON TABLE revocation.database_policies IS
    'Databases where every token must carry the allowlist claim';
