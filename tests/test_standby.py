"""A real streaming hot standby (pg_basebackup -R): a revocation committed on the primary is
enforced there once replayed, with no write on the standby; revoking there is refused."""

import os
import subprocess
import sys
import time

import psycopg
import pytest
from conftest import HS_SECRET, claims, pyjwt_token

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from pgcluster import PG_BIN, Cluster, _as_postgres, wait_for  # noqa: E402


@pytest.fixture(scope="module")
def pair():
    primary = Cluster(name="revocation-primary",
                      conf={"wal_level": "replica", "max_wal_senders": "4"})
    standby = Cluster(name="revocation-standby")
    try:
        primary.init()
        with open(os.path.join(primary.data, "pg_hba.conf"), "a") as f:
            f.write("local replication all trust\n")
        primary.start()
        primary.sql("CREATE EXTENSION revocation")
        primary.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
        _as_postgres([f"{PG_BIN}/pg_basebackup", "-h", primary.dir, "-U", "postgres",
                      "-D", standby.data, "-R", "-X", "stream", "--no-sync"])
        standby.write_conf({"hot_standby": "on"})
        standby.start()
        assert standby.sql("SELECT pg_is_in_recovery()") == [(True,)]
        yield primary, standby
    finally:
        standby.destroy()
        primary.destroy()


def replayed(primary, standby):
    lsn = primary.sql("SELECT pg_current_wal_lsn()")[0][0]
    return wait_for(lambda: standby.sql(
        "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0], timeout=30)


def test_revocation_reaches_a_live_standby_session(pair):
    primary, standby = pair
    token = pyjwt_token(claims(jti="j-standby"), HS_SECRET, "HS256", kid="k")
    assert replayed(primary, standby)
    with standby.connect() as reader:
        assert reader.execute("SELECT active FROM revocation.jwt_check(%s)",
                              (token,)).fetchone() == (True,)
        primary.sql("SELECT revocation.jwt_revoke('j-standby')")
        assert replayed(primary, standby)
        assert reader.execute("SELECT active, reason FROM revocation.jwt_check(%s)",
                              (token,)).fetchone() == (False, "revoked")
        with pytest.raises(psycopg.Error) as caught:
            reader.execute("SELECT revocation.jwt_verify(%s)", (token,))
        assert caught.value.sqlstate == "28J13"


def test_subject_revocation_and_keys_reach_the_standby(pair):
    primary, standby = pair
    now = int(time.time())
    token = pyjwt_token(claims(jti="j-sub", sub="erin", iat=now - 30), HS_SECRET, "HS256",
                        kid="k")
    other = b"standby-key-secret-with-32-bytes"
    late = pyjwt_token(claims(jti="j-late"), other, "HS256", kid="late")
    with standby.connect() as reader:
        assert reader.execute("SELECT reason FROM revocation.jwt_check(%s)",
                              (late,)).fetchone() == ("unknown_key",)
        primary.sql("SELECT revocation.jwt_add_key('late', 'HS256', secret => %s)", (other,))
        primary.sql("SELECT revocation.jwt_revoke_subject('erin')")
        assert replayed(primary, standby)
        assert reader.execute("SELECT active FROM revocation.jwt_check(%s)",
                              (late,)).fetchone() == (True,)
        assert reader.execute("SELECT reason FROM revocation.jwt_check(%s)",
                              (token,)).fetchone() == ("revoked",)


@pytest.mark.parametrize("call", [
    "SELECT revocation.jwt_revoke('x')",
    "SELECT revocation.jwt_revoke_subject('x')",
    "SELECT revocation.jwt_purge_revocations()",
])
def test_revoking_on_the_standby_is_refused(pair, call):
    _, standby = pair
    with pytest.raises(psycopg.Error) as caught:
        standby.sql(call)
    assert caught.value.sqlstate == "25006"
    assert caught.value.diag.message_primary.startswith(("cannot revoke", "cannot purge"))
