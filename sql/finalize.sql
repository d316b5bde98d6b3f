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
    RETURNS TABLE (keys bigint, key_loads bigint, last_key_load_us bigint, generation bigint,
                   revoked_jtis bigint, revoked_subjects bigint, revoked_bytes bigint,
                   refreshes bigint, full_loads bigint, last_refresh_us bigint)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'cache_stats_wrapper';
COMMENT ON FUNCTION revocation.cache_stats() IS
    'What this backend holds: keys, revoked jtis and subjects, the generation seen, and refreshes';

-- _authentic_claims: the claims of a token whose signature holds, whatever its expiry.
CREATE FUNCTION revocation._authentic_claims(token text)
    RETURNS jsonb
    LANGUAGE c STRICT STABLE
    AS 'MODULE_PATHNAME', 'revocation_authentic_claims';

-- _jti_revoked: the in-memory check alone, as jwt_verify makes it (for benchmarks and admins).
CREATE FUNCTION revocation._jti_revoked(jti text)
    RETURNS boolean
    LANGUAGE c STRICT STABLE
    AS 'MODULE_PATHNAME', '_jti_revoked_wrapper';
REVOKE ALL ON FUNCTION revocation._jti_revoked(text) FROM PUBLIC;

-- jwt_revoke: revokes a jti and returns when it was revoked. Revoking it again changes nothing
-- and returns the first time: the audit trail never moves.
CREATE FUNCTION revocation.jwt_revoke(
        jti text,
        reason text DEFAULT NULL,
        expires_at timestamptz DEFAULT NULL)
    RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    revoked timestamptz;
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot revoke a token on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Revoke on the primary; standbys enforce it once it is replayed.';
    END IF;
    IF jti IS NULL OR jti = '' THEN
        RAISE EXCEPTION 'jti must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO revocation.invalidated_tokens AS t (jti, reason, expires_at)
        VALUES (jwt_revoke.jti, jwt_revoke.reason, jwt_revoke.expires_at)
        ON CONFLICT ON CONSTRAINT invalidated_tokens_pkey DO NOTHING
        RETURNING t.invalidated_at INTO revoked;
    IF revoked IS NULL THEN
        SELECT t.invalidated_at INTO revoked
            FROM revocation.invalidated_tokens AS t WHERE t.jti = jwt_revoke.jti;
    END IF;
    RETURN revoked;
END
$$;
COMMENT ON FUNCTION revocation.jwt_revoke(text, text, timestamptz) IS
    'Revokes a jti; returns when it was first revoked';

-- jwt_revoke_token: revokes the token presented, after checking its signature.
CREATE FUNCTION revocation.jwt_revoke_token(token text, reason text DEFAULT NULL)
    RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    claims jsonb := revocation._authentic_claims(token);
BEGIN
    IF jsonb_typeof(claims -> 'jti') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'token has no jti claim, so it cannot be revoked by itself'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Revoke all tokens of its subject with jwt_revoke_subject.';
    END IF;
    RETURN revocation.jwt_revoke(
        claims ->> 'jti',
        reason,
        CASE WHEN jsonb_typeof(claims -> 'exp') = 'number'
             THEN to_timestamp((claims ->> 'exp')::float8) END);
END
$$;
COMMENT ON FUNCTION revocation.jwt_revoke_token(text, text) IS
    'Revokes the token presented (its signature is checked first); returns when it was revoked';

-- jwt_revoke_subject: every token of the subject issued before `before` is refused from now on.
CREATE FUNCTION revocation.jwt_revoke_subject(
        sub text,
        before timestamptz DEFAULT now(),
        reason text DEFAULT NULL)
    RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot revoke tokens on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Revoke on the primary; standbys enforce it once it is replayed.';
    END IF;
    IF sub IS NULL OR sub = '' OR before IS NULL THEN
        RAISE EXCEPTION 'sub and before must be given' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO revocation.invalidated_subjects AS s (sub, issued_before, reason)
        VALUES (jwt_revoke_subject.sub, jwt_revoke_subject.before, jwt_revoke_subject.reason)
        ON CONFLICT ON CONSTRAINT invalidated_subjects_pkey DO UPDATE
            SET issued_before = greatest(s.issued_before, EXCLUDED.issued_before),
                reason = coalesce(EXCLUDED.reason, s.reason)
        RETURNING s.issued_before INTO cutoff;
    RETURN cutoff;
END
$$;
COMMENT ON FUNCTION revocation.jwt_revoke_subject(text, timestamptz, text) IS
    'Revokes every token of a subject issued before a time (log out everywhere)';

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

-- Revocations: each row gets the next generation number (in commit order) and the revoking
-- role; the audit columns of a jti never change; a delete makes every backend reload.
CREATE FUNCTION revocation._stamp_revocation() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_stamp_revocation_wrapper';
CREATE FUNCTION revocation._bump_epoch() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE revocation.generation SET epoch = epoch + 1;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION revocation._bump_epoch() FROM PUBLIC;
CREATE TRIGGER stamp_revocation
    BEFORE INSERT OR UPDATE ON revocation.invalidated_tokens
    FOR EACH ROW EXECUTE FUNCTION revocation._stamp_revocation();
CREATE TRIGGER stamp_revocation
    BEFORE INSERT OR UPDATE ON revocation.invalidated_subjects
    FOR EACH ROW EXECUTE FUNCTION revocation._stamp_revocation();
CREATE TRIGGER bump_epoch
    AFTER DELETE OR TRUNCATE ON revocation.invalidated_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._bump_epoch();
CREATE TRIGGER bump_epoch
    AFTER DELETE OR TRUNCATE ON revocation.invalidated_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._bump_epoch();
CREATE TRIGGER invalidated_tokens_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revocation.invalidated_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._table_changed();
CREATE TRIGGER invalidated_subjects_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revocation.invalidated_subjects
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
REVOKE ALL ON FUNCTION revocation._authentic_claims(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_revoke(text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_revoke_token(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_revoke_subject(text, timestamptz, text) FROM PUBLIC;
