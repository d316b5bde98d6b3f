-- revocation 0.1.0 to 0.2.0: jwt_purge_revocations; deleting only long-expired revocations no
-- longer makes every backend reload; UTF8 databases only; comments on the tables.
-- Nothing here touches a row: keys, revocations and policies stay as they are. The one lock
-- stronger than a reader's is CREATE TRIGGER's SHARE ROW EXCLUSIVE on invalidated_tokens: the
-- update waits for open revoking transactions, and revocations wait for the update, while
-- verification goes on.

\echo Use "ALTER EXTENSION revocation UPDATE TO '0.2.0'" to load this file. \quit

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
REVOKE ALL ON FUNCTION revocation.jwt_purge_revocations(timestamptz) FROM PUBLIC;

-- bump_epoch stays as it was; its function now leaves a DELETE from invalidated_tokens to
-- bump_epoch_on_delete, which sees the deleted rows.
CREATE OR REPLACE FUNCTION revocation._bump_epoch() RETURNS trigger
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
CREATE TRIGGER bump_epoch_on_delete
    AFTER DELETE ON revocation.invalidated_tokens REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION revocation._bump_epoch_unless_expired();
