"""Key changes reach other live sessions at their next call, exactly at commit, with no
reconnect, whatever their isolation level."""

import psycopg
import pytest
from conftest import HS_SECRET, claims, pyjwt_token

OTHER_SECRET = b"a-second-secret-of-32-bytes-long"


def verdict(conn, token):
    return conn.execute("SELECT active, reason FROM revocation.jwt_check(%s)", (token,)).fetchone()


def test_commit_is_seen_rollback_never(db):
    token = pyjwt_token(claims(), OTHER_SECRET, "HS256", kid="k2")
    with db.connect() as reader, db.connect(autocommit=False) as writer:
        assert verdict(reader, token) == (False, "unknown_key")

        writer.execute("SELECT revocation.jwt_add_key('k2', 'HS256', secret => %s)",
                       (OTHER_SECRET,))
        assert verdict(reader, token) == (False, "unknown_key")  # not yet committed
        writer.rollback()
        assert verdict(reader, token) == (False, "unknown_key")  # never

        writer.execute("SELECT revocation.jwt_add_key('k2', 'HS256', secret => %s)",
                       (OTHER_SECRET,))
        writer.commit()
        assert verdict(reader, token) == (True, None)  # the very next call

        writer.execute("UPDATE revocation.signing_keys SET retired_at = now() WHERE kid = 'k2'")
        writer.commit()
        assert verdict(reader, token) == (False, "key_inactive")


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
def test_a_snapshot_older_than_the_commit_still_sees_it(db, isolation):
    token = pyjwt_token(claims(), OTHER_SECRET, "HS256", kid="k3")
    with db.connect(autocommit=False) as reader, db.connect() as writer:
        reader.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
        assert verdict(reader, token) == (False, "unknown_key")  # snapshot taken here
        writer.execute("SELECT revocation.jwt_add_key('k3', 'HS256', secret => %s)",
                       (OTHER_SECRET,))
        assert verdict(reader, token) == (True, None)
        reader.rollback()


def test_no_reload_without_a_change(db):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    token = pyjwt_token(claims(), HS_SECRET, "HS256", kid="k")
    with db.connect() as conn:
        verdict(conn, token)
        loads = conn.execute("SELECT key_loads FROM revocation.cache_stats()").fetchone()[0]
        for _ in range(200):
            assert verdict(conn, token) == (True, None)
        assert conn.execute("SELECT keys, key_loads FROM revocation.cache_stats()").fetchone() \
            == (1, loads)
        db.sql("SELECT revocation.jwt_add_key('k4', 'HS256', secret => %s)", (OTHER_SECRET,))
        verdict(conn, token)
        assert conn.execute("SELECT keys, key_loads FROM revocation.cache_stats()").fetchone() \
            == (2, loads + 1)


def test_a_failed_statement_leaves_the_cache_usable(db):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    token = pyjwt_token(claims(), HS_SECRET, "HS256", kid="k")
    with db.connect(autocommit=False) as conn:
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT revocation.jwt_add_key('bad', 'HS256', secret => 'short')")
        conn.rollback()
        assert verdict(conn, token) == (True, None)
