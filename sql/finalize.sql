-- Functions, triggers and privileges of the revocation extension. pgrx includes this file last.

-- jwt_verify: the claims of a valid token as jsonb, or an ERROR whose SQLSTATE (class 28,
-- subclass J..) names the reason. STABLE: one statement sees one clock. Without db it checks
-- for the current database; that form is its own function, so that no call pays for
-- evaluating current_database().
CREATE FUNCTION revocation.jwt_verify(token text, db text)
    RETURNS jsonb
    LANGUAGE c STRICT STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'revocation_jwt_verify';
COMMENT ON FUNCTION revocation.jwt_verify(text, text) IS
    'Returns the claims of a valid token for database db, or raises an error naming the reason';
CREATE FUNCTION revocation.jwt_verify(token text)
    RETURNS jsonb
    LANGUAGE c STRICT STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'revocation_jwt_verify_here';
COMMENT ON FUNCTION revocation.jwt_verify(text) IS
    'Returns the claims of a valid token for this database, or raises an error naming the reason';

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

-- jwt_sign: a token signed with the named key, or the newest key in use that can sign; `dbs`
-- scopes it to those databases.
CREATE FUNCTION revocation.jwt_sign(
        claims jsonb,
        kid text DEFAULT NULL,
        lifetime interval DEFAULT NULL,
        dbs text[] DEFAULT NULL)
    RETURNS text
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jwt_sign_wrapper';
COMMENT ON FUNCTION revocation.jwt_sign(jsonb, text, interval, text[]) IS
    'Signs claims (adding jti, iat and exp unless given) with a key from revocation.signing_keys';

-- claims / subject: the verified claims (or sub) of the token in the session setting named by
-- revocation.token_setting; NULL when none is set; an ERROR for a bad one.
CREATE FUNCTION revocation.claims()
    RETURNS jsonb
    LANGUAGE c STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'revocation_claims';
COMMENT ON FUNCTION revocation.claims() IS
    'Verified claims of the token in the session setting revocation.token_setting names';
CREATE FUNCTION revocation.subject()
    RETURNS text
    LANGUAGE c STABLE PARALLEL RESTRICTED
    AS 'MODULE_PATHNAME', 'revocation_subject';
COMMENT ON FUNCTION revocation.subject() IS
    'The sub claim of the verified token in the session setting revocation.token_setting names';

-- postgrest_pre_request: for PostgREST's db-pre-request. Verifies the request's bearer token
-- (signature, revocation, allowlist for this database) and raises SQLSTATE PT401, which
-- PostgREST answers with HTTP 401, when it is not valid. A request without a token passes.
CREATE FUNCTION revocation.postgrest_pre_request()
    RETURNS void
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'revocation_postgrest_pre_request';
COMMENT ON FUNCTION revocation.postgrest_pre_request() IS
    'PostgREST db-pre-request hook: refuses a request whose bearer token is not valid here';

-- require_database_claim: switches enforcement of the allowlist claim for a database.
CREATE FUNCTION revocation.require_database_claim(
        db text DEFAULT pg_catalog.current_database(),
        required boolean DEFAULT true)
    RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
        INSERT INTO revocation.database_policies AS p (db, require_claim)
        VALUES (require_database_claim.db, require_database_claim.required)
        ON CONFLICT ON CONSTRAINT database_policies_pkey DO UPDATE
            SET require_claim = EXCLUDED.require_claim
    $$;
COMMENT ON FUNCTION revocation.require_database_claim(text, boolean) IS
    'Turns on (or off) refusing tokens without the allowlist claim in a database';

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

-- jwt_rotate_key: adds a new signing key and retires the current one at the end of a window.
-- From then on jwt_sign uses the new key; the old one verifies until the window closes.
CREATE FUNCTION revocation.jwt_rotate_key(
        kid text,
        alg text,
        secret bytea DEFAULT NULL,
        public_key text DEFAULT NULL,
        private_key text DEFAULT NULL,
        "window" interval DEFAULT '1 day',
        old_kid text DEFAULT NULL)
    RETURNS TABLE (new_kid text, retired_kid text, retired_at timestamptz)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    old text := old_kid;
BEGIN
    IF "window" < interval '0' THEN
        RAISE EXCEPTION 'window must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF old IS NULL THEN
        -- The key jwt_sign would use now.
        SELECT k.kid INTO old FROM revocation.signing_keys AS k
            WHERE k.usable_from <= now() AND k.retired_at IS NULL
              AND (k.secret IS NOT NULL OR k.private_key IS NOT NULL)
            ORDER BY k.usable_from DESC, k.created_at DESC, k.kid DESC LIMIT 1;
    ELSIF NOT EXISTS (SELECT 1 FROM revocation.signing_keys AS k WHERE k.kid = old) THEN
        RAISE EXCEPTION 'unknown signing key "%"', old USING ERRCODE = 'undefined_object';
    END IF;
    IF secret IS NULL AND private_key IS NULL THEN
        RAISE EXCEPTION 'the new key cannot sign'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give its secret (HMAC) or its private key; to add a verify-only key, '
                         'use jwt_add_key.';
    END IF;
    PERFORM revocation.jwt_add_key(jwt_rotate_key.kid, alg, secret, public_key, private_key);
    UPDATE revocation.signing_keys AS k SET retired_at = now() + "window"
        WHERE k.kid = old AND (k.retired_at IS NULL OR k.retired_at > now() + "window");
    RETURN QUERY SELECT jwt_rotate_key.kid, old, now() + "window";
END
$$;
COMMENT ON FUNCTION revocation.jwt_rotate_key(text, text, bytea, text, text, interval, text) IS
    'Adds a new signing key and retires the current one when the window closes';

-- jwt_retire_key: retires a key now (a compromised key) or at a given time.
CREATE FUNCTION revocation.jwt_retire_key(kid text, at timestamptz DEFAULT now())
    RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    done timestamptz;
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION 'at must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE revocation.signing_keys AS k SET retired_at = at WHERE k.kid = jwt_retire_key.kid
        RETURNING k.retired_at INTO done;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown signing key "%"', kid USING ERRCODE = 'undefined_object';
    END IF;
    RETURN done;
END
$$;
COMMENT ON FUNCTION revocation.jwt_retire_key(text, timestamptz) IS
    'Retires a signing key now or at a given time; it no longer verifies from then on';

-- jwt_validate_keys: every row of the key table that breaks a rule (say, from an old dump).
CREATE FUNCTION revocation.jwt_validate_keys()
    RETURNS TABLE (kid text, problem text)
    LANGUAGE c VOLATILE
    AS 'MODULE_PATHNAME', 'jwt_validate_keys_wrapper';
COMMENT ON FUNCTION revocation.jwt_validate_keys() IS
    'Lists every signing key that breaks a rule, with the rule';

-- jwt_jwks: the public keys in use now or later, for services outside the database.
CREATE FUNCTION revocation.jwt_jwks()
    RETURNS jsonb
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'jwt_jwks_wrapper';
COMMENT ON FUNCTION revocation.jwt_jwks() IS
    'The public signing keys as a JWKS document (no secrets, no private keys)';

CREATE FUNCTION revocation._jwks_keys(jwks jsonb)
    RETURNS TABLE (kid text, alg text, public_key text)
    LANGUAGE c STABLE STRICT
    AS 'MODULE_PATHNAME', '_jwks_keys_wrapper';

-- jwt_import_jwks: adds an identity provider's public keys; all or nothing. A key already
-- present with the same material is skipped, so importing the same set again is harmless.
CREATE FUNCTION revocation.jwt_import_jwks(jwks jsonb, usable_from timestamptz DEFAULT now())
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    k record;
BEGIN
    FOR k IN SELECT * FROM revocation._jwks_keys(jwks) LOOP
        INSERT INTO revocation.signing_keys (kid, alg, public_key, usable_from)
            VALUES (k.kid, k.alg, k.public_key, jwt_import_jwks.usable_from)
            ON CONFLICT ON CONSTRAINT signing_keys_pkey DO NOTHING;
        IF FOUND THEN
            RETURN NEXT k.kid;
        ELSIF NOT EXISTS (SELECT 1 FROM revocation.signing_keys AS s
                          WHERE s.kid = k.kid AND s.alg = k.alg AND s.public_key = k.public_key)
        THEN
            RAISE EXCEPTION 'signing key "%" already exists with other key material', k.kid
                USING ERRCODE = 'unique_violation';
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION revocation.jwt_import_jwks(jsonb, timestamptz) IS
    'Adds the public keys of a JWKS (RSA, EC, OKP), refusing any that breaks a rule';

-- oauth_google_authorize_url: Google's authorization URL with access_type=offline and
-- prompt=consent always present, so every authorization returns a refresh token.
CREATE FUNCTION revocation.oauth_google_authorize_url(
        client_id text,
        redirect_uri text,
        scopes text[],
        state text,
        login_hint text DEFAULT NULL)
    RETURNS text
    LANGUAGE c IMMUTABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'oauth_google_authorize_url_wrapper';
COMMENT ON FUNCTION revocation.oauth_google_authorize_url(text, text, text[], text, text) IS
    'Google OAuth authorize URL that always asks for consent and offline access';

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
    -- An expiry in the past would let the entry be dropped from memory at once, while a token
    -- with this jti and a later exp could still be alive.
    IF expires_at < now() - interval '300 seconds' THEN
        RAISE EXCEPTION 'expires_at is in the past'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the latest expiry of any token with this jti, or NULL if unknown.';
    END IF;
    -- Again: the first timestamp stays; a later or unknown expiry replaces an earlier one, so
    -- the entry is held as long as any token with this jti may live.
    INSERT INTO revocation.invalidated_tokens AS t (jti, reason, expires_at)
        VALUES (jwt_revoke.jti, jwt_revoke.reason, jwt_revoke.expires_at)
        ON CONFLICT ON CONSTRAINT invalidated_tokens_pkey DO UPDATE
            SET expires_at = CASE WHEN t.expires_at IS NULL OR EXCLUDED.expires_at IS NULL
                                  THEN NULL
                                  ELSE greatest(t.expires_at, EXCLUDED.expires_at) END
            WHERE t.expires_at IS NOT NULL
              AND (EXCLUDED.expires_at IS NULL OR EXCLUDED.expires_at > t.expires_at)
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
    -- A token expired beyond any leeway is refused anyway: nothing to record.
    IF jsonb_typeof(claims -> 'exp') = 'number'
       AND to_timestamp((claims ->> 'exp')::float8) < now() - interval '300 seconds' THEN
        RETURN NULL;
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
    -- Each move forward is a row of its own; a cut-off at or before the current one changes
    -- nothing. (Two revokers racing may both add a row; the latest cut-off wins either way.)
    SELECT max(s.issued_before) INTO cutoff
        FROM revocation.invalidated_subjects AS s WHERE s.sub = jwt_revoke_subject.sub;
    IF cutoff IS NULL OR before > cutoff THEN
        INSERT INTO revocation.invalidated_subjects (sub, issued_before, reason)
            VALUES (jwt_revoke_subject.sub, jwt_revoke_subject.before, jwt_revoke_subject.reason);
        cutoff := before;
    END IF;
    RETURN cutoff;
END
$$;
COMMENT ON FUNCTION revocation.jwt_revoke_subject(text, timestamptz, text) IS
    'Revokes every token of a subject issued before a time (log out everywhere)';

-- jwt_purge_revocations: deletes the rows of revoked tokens that expired before a time, so the
-- table does not grow for ever. Rows whose expiry is unknown are kept, and so are subjects'
-- cut-offs. The purged rows' history goes with them; dump them first if it must be kept.
-- SECURITY DEFINER: whoever may run it can delete only what it deletes, never a live row.
CREATE FUNCTION revocation.jwt_purge_revocations(
        expired_before timestamptz DEFAULT now() - interval '30 days')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    purged bigint;
BEGIN
    IF pg_is_in_recovery() THEN
        RAISE EXCEPTION 'cannot purge revocations on a standby'
            USING ERRCODE = 'read_only_sql_transaction',
                  HINT = 'Purge on the primary; standbys follow once it is replayed.';
    END IF;
    IF expired_before IS NULL THEN
        RAISE EXCEPTION 'expired_before must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- A statement judges tokens by its own start time, and within the leeway (at most 300
    -- seconds) a token past its exp still verifies: a statement that began a while ago may
    -- still need the row of a token that expired before now. A day covers any sane statement.
    IF expired_before > now() - interval '1 day' THEN
        RAISE EXCEPTION 'expired_before must be at least one day ago'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Rows of tokens that expired within the last day are kept, for '
                           'statements still running and for the leeway.';
    END IF;
    DELETE FROM revocation.invalidated_tokens AS t WHERE t.expires_at < expired_before;
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN purged;
END
$$;
COMMENT ON FUNCTION revocation.jwt_purge_revocations(timestamptz) IS
    'Deletes the revocations of tokens that expired before a time; returns how many';

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
-- role; the audit columns of a jti never change; a delete makes every backend reload, unless it
-- removed only rows no backend needs.
CREATE FUNCTION revocation._stamp_revocation() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', '_stamp_revocation_wrapper';
CREATE FUNCTION revocation._bump_epoch() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    -- A DELETE from invalidated_tokens is judged by bump_epoch_on_delete, which sees the rows.
    IF TG_OP = 'TRUNCATE' OR TG_TABLE_NAME <> 'invalidated_tokens' THEN
        UPDATE revocation.generation SET epoch = epoch + 1;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION revocation._bump_epoch() FROM PUBLIC;
-- Deleting only rows of tokens that expired more than a day ago, as jwt_purge_revocations does,
-- needs no reload: a statement judges tokens by its start time, within a leeway of at most 300
-- seconds, so only a statement that has run for most of a day could still need such a row.
-- Held in memory, the entry goes at the next prune. Any other deleted row might be needed, and
-- moves the epoch. expires_at only ever grows.
CREATE FUNCTION revocation._bump_epoch_unless_expired() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone
               WHERE gone.expires_at IS NULL OR gone.expires_at >= now() - interval '1 day')
    THEN
        UPDATE revocation.generation SET epoch = epoch + 1;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION revocation._bump_epoch_unless_expired() FROM PUBLIC;
CREATE TRIGGER stamp_revocation
    BEFORE INSERT OR UPDATE ON revocation.invalidated_tokens
    FOR EACH ROW EXECUTE FUNCTION revocation._stamp_revocation();
CREATE TRIGGER stamp_revocation
    BEFORE INSERT OR UPDATE ON revocation.invalidated_subjects
    FOR EACH ROW EXECUTE FUNCTION revocation._stamp_revocation();
CREATE TRIGGER bump_epoch
    AFTER DELETE OR TRUNCATE ON revocation.invalidated_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._bump_epoch();
CREATE TRIGGER bump_epoch_on_delete
    AFTER DELETE ON revocation.invalidated_tokens REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._bump_epoch_unless_expired();
CREATE TRIGGER bump_epoch
    AFTER DELETE OR TRUNCATE ON revocation.invalidated_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._bump_epoch();
CREATE TRIGGER invalidated_tokens_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revocation.invalidated_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._table_changed();
CREATE TRIGGER invalidated_subjects_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revocation.invalidated_subjects
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._table_changed();

CREATE TRIGGER database_policies_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revocation.database_policies
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
REVOKE ALL ON FUNCTION revocation.jwt_sign(jsonb, text, interval, text[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.require_database_claim(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_rotate_key(text, text, bytea, text, text, interval, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_retire_key(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_import_jwks(jsonb, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_validate_keys() FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation._jwks_keys(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.cache_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_add_key(text, text, bytea, text, text, timestamptz, timestamptz)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation._authentic_claims(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_revoke(text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_revoke_token(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_revoke_subject(text, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION revocation.jwt_purge_revocations(timestamptz) FROM PUBLIC;
