"""Nothing is lost: a pg_dump round trip keeps every key and revocation, and a backend killed
with SIGKILL or a server stopped with an immediate shutdown keeps every committed revocation."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import HS_SECRET, claims, key_text, pyjwt_token

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from pgcluster import PG_BIN, _as_postgres, wait_for  # noqa: E402


def test_dump_and_restore_into_a_fresh_database(cluster, db):
    db.sql("SELECT revocation.jwt_add_key('hs', 'HS256', secret => %s)", (HS_SECRET,))
    db.sql("SELECT revocation.jwt_add_key('rs', 'RS256', public_key => %s, private_key => %s)",
           (key_text("rsa2048.pub"), key_text("rsa2048.key")))
    revoked = pyjwt_token(claims(jti="j-dumped"), HS_SECRET, "HS256", kid="hs")
    logged_out = pyjwt_token(claims(jti="j-other", sub="zoe", iat=int(time.time()) - 60),
                             HS_SECRET, "HS256", kid="hs")
    fine = pyjwt_token(claims(jti="j-fine"), HS_SECRET, "HS256", kid="hs")
    signed = db.one("SELECT revocation.jwt_sign('{\"sub\":\"rs-user\"}', 'rs')")
    db.sql("SELECT revocation.jwt_revoke('j-dumped', 'leaked')")
    db.sql("SELECT revocation.jwt_revoke_subject('zoe')")
    db.sql("SELECT revocation.require_database_claim('reports')")
    before = db.sql("SELECT jti, invalidated_at, reason, revoked_by "
                    "FROM revocation.invalidated_tokens")

    dump = os.path.join(cluster.dir, "dump.pgc")
    _as_postgres([f"{PG_BIN}/pg_dump", "-h", cluster.dir, "-U", "postgres", "-Fc",
                  "-f", dump, db.name])
    restored = f"{db.name}_restored"
    cluster.sql(f"CREATE DATABASE {restored}")
    try:
        _as_postgres([f"{PG_BIN}/pg_restore", "-h", cluster.dir, "-U", "postgres",
                      "-d", restored, "--exit-on-error", dump])
        with cluster.connect(restored) as conn:
            check = lambda t: conn.execute(  # noqa: E731
                "SELECT active, reason FROM revocation.jwt_check(%s)", (t,)).fetchone()
            assert check(revoked) == (False, "revoked")
            assert check(logged_out) == (False, "revoked")
            assert check(fine) == (True, None)
            assert check(signed) == (True, None)   # the RSA key verifies
            assert conn.execute("SELECT revocation.jwt_sign('{}', 'rs') IS NOT NULL").fetchone() \
                == (True,)                           # and its private half still signs
            assert conn.execute("SELECT jti, invalidated_at, reason, revoked_by "
                                "FROM revocation.invalidated_tokens").fetchall() == before
            assert conn.execute("SELECT db, require_claim FROM revocation.database_policies"
                                ).fetchall() == [("reports", True)]
            # Restored rows are numbered afresh, in the counter of the new database.
            assert conn.execute("SELECT generation FROM revocation.generation").fetchone() == (2,)
    finally:
        cluster.sql(f"DROP DATABASE {restored} WITH (FORCE)")


def test_kill_and_immediate_shutdown_lose_no_committed_revocation(cluster, db):
    db.sql("SELECT revocation.jwt_add_key('hs', 'HS256', secret => %s)", (HS_SECRET,))
    victim = db.connect()
    pid = victim.execute("SELECT pg_backend_pid()").fetchone()[0]
    committed = []
    for i in range(200):
        victim.execute("SELECT revocation.jwt_revoke(%s)", (f"k-{i}",))
        committed.append(f"k-{i}")
    # Kill it in the middle of an open revocation transaction.
    victim.autocommit = False
    victim.execute("SELECT revocation.jwt_revoke('never-committed')")
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: _accepts(cluster), timeout=30)   # the server recovers by itself

    _as_postgres([f"{PG_BIN}/pg_ctl", "-D", cluster.data, "-m", "immediate", "-w", "stop"])
    cluster.running = False
    cluster.start()
    with cluster.connect(db.name) as conn:
        held = {r[0] for r in conn.execute("SELECT jti FROM revocation.invalidated_tokens")}
        assert held == set(committed)
        for jti in (committed[0], committed[-1]):
            t = pyjwt_token(claims(jti=jti), HS_SECRET, "HS256", kid="hs")
            assert conn.execute("SELECT reason FROM revocation.jwt_check(%s)",
                                (t,)).fetchone() == ("revoked",)
        t = pyjwt_token(claims(jti="never-committed"), HS_SECRET, "HS256", kid="hs")
        assert conn.execute("SELECT active FROM revocation.jwt_check(%s)", (t,)).fetchone() \
            == (True,)


def _accepts(cluster):
    try:
        cluster.sql("SELECT 1")
        return True
    except Exception:
        return False


def test_every_security_definer_function_pins_its_search_path(db):
    rows = db.sql("SELECT proname, proconfig FROM pg_proc "
                  "WHERE pronamespace = 'revocation'::regnamespace AND prosecdef")
    assert rows, "expected at least one SECURITY DEFINER function"
    for name, config in rows:
        assert config and any(c.startswith("search_path=pg_catalog") for c in config), name


def test_public_may_only_verify(db):
    allowed = {r[0] for r in db.sql(
        "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'revocation'::regnamespace "
        "AND has_function_privilege('public', p.oid, 'EXECUTE') AND p.prorettype <> "
        "'trigger'::regtype")}
    assert allowed == {"jwt_verify", "jwt_check", "claims", "subject", "postgrest_pre_request",
                       "jwt_jwks", "oauth_google_authorize_url"}
