"""Legacy shared secrets in a setting: checked when the server starts (with the library
preloaded) and on reload; real servers with good and bad settings."""

import base64
import os
import sys
import time

import psycopg
import pytest
from conftest import claims, pyjwt_token

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from pgcluster import Cluster, wait_for  # noqa: E402

GOOD = b"legacy-secret-that-is-32-bytes!!"
B64 = base64.b64encode(GOOD).decode()


def preloaded(secrets):
    return Cluster(name="revocation-startup", conf={
        "shared_preload_libraries": "'revocation'",
        "revocation.legacy_secrets": f"'{secrets}'",
    }).init()


def test_good_legacy_secret_verifies_tokens_without_kid():
    c = preloaded(f"{B64}, HS512:{base64.b64encode(GOOD * 2).decode()}")
    try:
        c.start()
        c.sql("CREATE EXTENSION revocation")
        token = pyjwt_token(claims(sub="old-app"), GOOD, "HS256")
        assert c.sql("SELECT active, kid FROM revocation.jwt_check(%s)", (token,)) \
            == [(True, "legacy-1")]
        with_kid = pyjwt_token(claims(), GOOD, "HS256", kid="some-kid")
        assert c.sql("SELECT reason FROM revocation.jwt_check(%s)", (with_kid,)) \
            == [("unknown_key",)]
        # Only superusers can see it.
        c.sql("CREATE ROLE plain LOGIN")
        with c.connect(user="plain") as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SHOW revocation.legacy_secrets")
    finally:
        c.destroy()


@pytest.mark.parametrize("secrets,rule", [
    (base64.b64encode(b"short").decode(), "entry 1: an HS256 secret must be at least 32 bytes, got 5"),
    (f"{B64},", "entry 2 is empty"),
    (f"RS256:{B64}", 'entry 1: algorithm "RS256" is not allowed'),
    (f"HS512:{B64}", "entry 1: an HS512 secret must be at least 64 bytes, got 32"),
    ("%%%", "entry 1 is not base64"),
])
def test_a_bad_legacy_secret_stops_the_start_up(secrets, rule):
    c = preloaded(secrets)
    try:
        done = c.start(check=False)
        assert done.returncode != 0
        log = c.server_log()
        assert 'FATAL:  invalid value for parameter "revocation.legacy_secrets"' in log
        assert rule in log
        assert "ready to accept connections" not in log
        assert GOOD.decode() not in log and B64 not in log   # the secret is never logged
    finally:
        c.destroy()


def test_a_reload_with_a_bad_value_keeps_the_old_one():
    c = preloaded(B64)
    try:
        c.start()
        c.sql("CREATE EXTENSION revocation")
        token = pyjwt_token(claims(), GOOD, "HS256")
        with c.connect() as conn:
            assert conn.execute("SELECT active FROM revocation.jwt_check(%s)",
                                (token,)).fetchone() == (True,)
            with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
                conn.execute("ALTER SYSTEM SET revocation.legacy_secrets = 'c2hvcnQ='")
            assert caught.value.diag.message_detail \
                == "entry 1: an HS256 secret must be at least 32 bytes, got 5"
            # Edited in the file by hand, then reloaded: refused, and the old value stays.
            with open(os.path.join(c.data, "postgresql.auto.conf"), "a") as f:
                f.write("revocation.legacy_secrets = 'c2hvcnQ='\n")
            conn.execute("SELECT pg_reload_conf()")
            assert wait_for(lambda: "postgresql.auto.conf\" contains errors" in c.server_log())
            time.sleep(0.2)
            assert conn.execute("SELECT active FROM revocation.jwt_check(%s)",
                                (token,)).fetchone() == (True,)
            assert conn.execute("SHOW revocation.legacy_secrets").fetchone() == (B64,)
    finally:
        c.destroy()


def test_revocation_works_with_the_library_preloaded():
    c = Cluster(name="revocation-preload",
                conf={"shared_preload_libraries": "'revocation'"}).init()
    try:
        c.start()
        c.sql("CREATE EXTENSION revocation")
        c.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (GOOD,))
        token = pyjwt_token(claims(jti="j-pre"), GOOD, "HS256", kid="k")
        with c.connect() as reader:
            assert reader.execute("SELECT active FROM revocation.jwt_check(%s)",
                                  (token,)).fetchone() == (True,)
            c.sql("SELECT revocation.jwt_revoke('j-pre')")
            assert reader.execute("SELECT reason FROM revocation.jwt_check(%s)",
                                  (token,)).fetchone() == ("revoked",)
    finally:
        c.destroy()


def test_refused_values_are_never_echoed():
    weak = base64.b64encode(b"WEAKWEAKWEAK").decode()
    c = preloaded(B64)
    try:
        c.start()
        with c.connect() as conn:
            with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
                conn.execute(f"ALTER SYSTEM SET revocation.legacy_secrets = '{B64},{weak}'")
            text = str(caught.value) + (caught.value.diag.message_detail or "")
            assert caught.value.diag.message_primary \
                == 'invalid value for parameter "revocation.legacy_secrets"'
            assert B64 not in text and weak not in text
        # PostgreSQL's own STATEMENT line repeats the failing command as typed; every line
        # of ours, and PostgreSQL's message for the setting, leave the value out.
        ours = "\n".join(line for line in c.server_log().splitlines()
                         if "STATEMENT:" not in line)
        assert B64 not in ours and weak not in ours
    finally:
        c.destroy()


def test_without_preloading_legacy_secrets_are_ignored():
    c = Cluster(name="revocation-nopreload",
                conf={"revocation.legacy_secrets": f"'{B64}'"}).init()
    try:
        c.start()
        c.sql("CREATE EXTENSION revocation")
        token = pyjwt_token(claims(), GOOD, "HS256")
        with c.connect() as conn:
            notices = []
            conn.add_notice_handler(lambda d: notices.append(d.message_primary))
            assert conn.execute("SELECT reason FROM revocation.jwt_check(%s)",
                                (token,)).fetchone() == ("unknown_key",)
            assert any("revocation.legacy_secrets is ignored" in n for n in notices)
            assert not any(B64 in n for n in notices)
    finally:
        c.destroy()
