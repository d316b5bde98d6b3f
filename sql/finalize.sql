-- Functions, triggers and privileges of the revocation extension. pgrx includes this file last.

-- jwt_verify: the claims of a valid token as jsonb, or an ERROR whose SQLSTATE (class 28,
-- subclass J..) names the reason. STABLE: one statement sees one clock.
CREATE FUNCTION revocation.jwt_verify(token text, db text DEFAULT pg_catalog.current_database())
    RETURNS jsonb
    LANGUAGE c STRICT STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'revocation_jwt_verify';
COMMENT ON FUNCTION revocation.jwt_verify(text, text) IS
    'Returns the claims of a valid token for database db, or raises an error naming the reason';

-- jwt_check: the same verdict as a row that never raises for a bad token, as of time `at`
-- (default: now), in the spirit of RFC 7662 token introspection.
CREATE FUNCTION revocation.jwt_check(
        token text,
        db text DEFAULT pg_catalog.current_database(),
        at timestamptz DEFAULT NULL)
    RETURNS TABLE (active boolean, reason text, sqlstate text, message text, claims jsonb,
                   kid text, jti text)
    LANGUAGE c STABLE PARALLEL RESTRICTED ROWS 1
    AS 'MODULE_PATHNAME', 'jwt_check_wrapper';
COMMENT ON FUNCTION revocation.jwt_check(text, text, timestamptz) IS
    'Says whether a token is (or was, at time at) valid for database db, and why not';

-- jwt_sign: a token signed with the named key, or the newest key in use that can sign.
CREATE FUNCTION revocation.jwt_sign(
        claims jsonb,
        kid text DEFAULT NULL,
        lifetime interval DEFAULT NULL)
    RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jwt_sign_wrapper';
COMMENT ON FUNCTION revocation.jwt_sign(jsonb, text, interval) IS
    'Signs claims (adding jti, iat and exp unless given) with a key from revocation.signing_keys';

-- jwt_add_key: adds a key; the check_signing_key trigger refuses one that breaks a rule.
CREATE FUNCTION revocation.jwt_add_key(
        kid text,
        alg text,
        secret bytea DEFAULT NULL,
        public_key text DEFAULT NULL,
        private_key text DEFAULT NULL,
        usable_from timestamptz DEFAULT now(),
        retired_at timestamptz DEFAULT NULL)
    RETURNS text
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
        INSERT INTO revocation.signing_keys
            (kid, alg, secret, public_key, private_key, usable_from, retired_at)
        VALUES (kid, alg, secret, public_key, private_key, usable_from, retired_at)
        RETURNING kid
    $$;
COMMENT ON FUNCTION revocation.jwt_add_key(text, text, bytea, text, text, timestamptz, timestamptz)
    IS 'Adds a signing key after checking its size, curve and algorithm';

-- cache_stats: what this backend holds in memory.
CREATE FUNCTION revocation.cache_stats()
    RETURNS TABLE (keys bigint, key_loads bigint, last_load_us bigint)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'cache_stats_wrapper';
COMMENT ON FUNCTION revocation.cache_stats() IS
    'Keys held by this backend, how often they were loaded, and how long the last load took';

-- The key rules, for every row however it arrives.
CREATE FUNCTION revocation._check_signing_key() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_check_signing_key_wrapper';
CREATE TRIGGER check_signing_key
    BEFORE INSERT OR UPDATE ON revocation.signing_keys
    FOR EACH ROW EXECUTE FUNCTION revocation._check_signing_key();

-- Every committed change reaches every backend's cache (and every hot standby's).
CREATE FUNCTION revocation._table_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_table_changed_wrapper';
CREATE TRIGGER signing_keys_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revocation.signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._table_changed();

-- The keys without their secrets, for anyone: kids, algorithms and public keys are not secret.
CREATE VIEW revocation.keys WITH (security_barrier) AS
    SELECT kid, alg, public_key, private_key IS NOT NULL OR secret IS NOT NULL AS can_sign,
           created_at, usable_from, retired_at
    FROM revocation.signing_keys;
COMMENT ON VIEW revocation.keys IS 'Signing keys without secret or private key material';

-- Privileges: anyone may verify and look at the public side of the keys; signing and key
-- management are for roles an administrator grants (see README, "Roles").
GRANT USAGE ON SCHEMA revocation TO PUBLIC;
GRANT SELECT ON revocation.keys TO PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_sign(jsonb, text, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_add_key(text, text, bytea, text, text, timestamptz, timestamptz)
    FROM PUBLIC;
