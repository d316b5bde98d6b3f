"""Upgrades lose nothing. A database is created at 0.1.0, the first release, from its install
script exactly as it shipped (sql/released/), and runs on today's library, as it does between a
package upgrade and ALTER EXTENSION ... UPDATE. It gets keys of every kind, revocations of a jti,
of a presented token and of a subject, and an enforced allowlist; then it is updated. Every row,
every verdict and every grant survives, a session opened before the update keeps its verdicts,
and the schema ends up the same as a fresh install's."""

import difflib
import json
import os
import re
import subprocess
import sys
import time

import jwt
import psycopg
import pytest
from conftest import HS_SECRET, claims, key_text, pyjwt_token

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from pgcluster import PG_BIN, _as_postgres  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIRST_RELEASE = "0.1.0"

# The functions 0.2.0 adds, with their privileges: granted to nobody.
NEW_FUNCTIONS = {
    ("revocation.jwt_purge_revocations(timestamp with time zone)", "{postgres=X/postgres}"),
    ("revocation._bump_epoch_unless_expired()", "{postgres=X/postgres}"),
}

TABLES = {
    "signing_keys": "kid",
    "invalidated_tokens": "jti",
    "invalidated_subjects": "sub, issued_before",
    "database_policies": "db",
    "generation": "only_row",
}


def current_version():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


@pytest.fixture
def old_db(cluster):
    """A database whose extension was created at the first release."""
    name = "upgraded"
    cluster.sql(f"CREATE DATABASE {name}")
    available = {r[0] for r in cluster.sql(
        "SELECT version FROM pg_available_extension_versions WHERE name = 'revocation'")}
    assert FIRST_RELEASE in available, (
        "the 0.1.0 install script is not installed; scripts/test copies sql/released/ into "
        "the extension directory")
    cluster.sql(f"CREATE EXTENSION revocation VERSION '{FIRST_RELEASE}'", dbname=name)
    yield name
    cluster.sql(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def fresh_db(cluster):
    name = "fresh"
    cluster.sql(f"CREATE DATABASE {name}")
    cluster.sql("CREATE EXTENSION revocation", dbname=name)
    yield name
    cluster.sql(f"DROP DATABASE {name} WITH (FORCE)")


def populate(conn):
    """Keys, revocations and a policy, made through 0.1.0's functions. Returns the tokens, by
    what each must get."""
    x = conn.execute
    x("SELECT revocation.jwt_add_key('hs-old', 'HS256', secret => %s)", (HS_SECRET,))
    # Rotation: hs-old keeps verifying for a day; hs-new signs from now on.
    x("SELECT revocation.jwt_rotate_key('hs-new', 'HS256', secret => %s)",
      (b"a-second-secret-of-32-bytes-long",))
    x("SELECT revocation.jwt_add_key('es', 'ES256', public_key => %s, private_key => %s)",
      (key_text("p256.pub"), key_text("p256.key")))
    x("SELECT revocation.jwt_add_key('rs', 'RS256', public_key => %s)", (key_text("rsa2048.pub"),))
    x("SELECT revocation.jwt_add_key('gone', 'HS256', secret => %s, retired_at => now())",
      (b"a-retired-secret-of-32-bytes-ok!",))
    x("SELECT revocation.require_database_claim()")

    db = conn.execute("SELECT current_database()").fetchone()[0]
    sign = lambda c, kid: x(  # noqa: E731
        "SELECT revocation.jwt_sign(%s::jsonb, %s, dbs => ARRAY[current_database()])",
        (json.dumps(c), kid)).fetchone()[0]
    tokens = {
        "ours-hs-new": sign({"sub": "alice"}, "hs-new"),
        "ours-es": sign({"sub": "alice"}, "es"),
        "pyjwt-rs": pyjwt_token(claims(dbs=[db]), key_text("rsa2048.key"), "RS256", kid="rs"),
        "pyjwt-hs-old": pyjwt_token(claims(dbs=[db]), HS_SECRET, "HS256", kid="hs-old"),
        "no-dbs": pyjwt_token(claims(), HS_SECRET, "HS256", kid="hs-old"),
        "retired-key": pyjwt_token(claims(dbs=[db]), b"a-retired-secret-of-32-bytes-ok!",
                                   "HS256", kid="gone"),
        "revoked-jti": pyjwt_token(claims(jti="leaked-1", dbs=[db]), HS_SECRET, "HS256",
                                   kid="hs-old"),
        "revoked-token": sign({"sub": "carol"}, "es"),
        "revoked-subject": pyjwt_token(claims(sub="bob", iat=int(time.time()) - 60, dbs=[db]),
                                       key_text("rsa2048.key"), "RS256", kid="rs"),
        "revoked-no-expiry": pyjwt_token(claims(jti="leaked-2", dbs=[db]), HS_SECRET, "HS256",
                                         kid="hs-old"),
    }
    x("SELECT revocation.jwt_revoke('leaked-1', 'leaked', now() + interval '1 hour')")
    x("SELECT revocation.jwt_revoke('leaked-2')")
    x("SELECT revocation.jwt_revoke_token(%s, 'logged out')", (tokens["revoked-token"],))
    x("SELECT revocation.jwt_revoke_subject('bob', reason => 'password reset')")
    return tokens


EXPECTED = {
    "ours-hs-new": (True, None),
    "ours-es": (True, None),
    "pyjwt-rs": (True, None),
    "pyjwt-hs-old": (True, None),
    "no-dbs": (False, "database_claim_required"),
    "retired-key": (False, "key_inactive"),
    "revoked-jti": (False, "revoked"),
    "revoked-token": (False, "revoked"),
    "revoked-subject": (False, "revoked"),
    "revoked-no-expiry": (False, "revoked"),
}


def signing_kid(conn):
    """The kid of the key jwt_sign picks when none is named."""
    token = conn.execute("SELECT revocation.jwt_sign('{}')").fetchone()[0]
    return jwt.get_unverified_header(token)["kid"]


def verdicts(conn, tokens):
    return {name: conn.execute("SELECT active, reason FROM revocation.jwt_check(%s)",
                               (t,)).fetchone()
            for name, t in tokens.items()}


def rows(conn):
    return {table: conn.execute(f"SELECT * FROM revocation.{table} ORDER BY {order}").fetchall()
            for table, order in TABLES.items()}


def grants(conn):
    """Every privilege on the extension's tables, functions and schema, by object."""
    return conn.execute("""
        SELECT c.relname, c.relacl::text FROM pg_class c
            WHERE c.relnamespace = 'revocation'::regnamespace
        UNION ALL
        SELECT p.oid::regprocedure::text, p.proacl::text FROM pg_proc p
            WHERE p.pronamespace = 'revocation'::regnamespace
        UNION ALL
        SELECT n.nspname, n.nspacl::text FROM pg_namespace n WHERE n.nspname = 'revocation'
        ORDER BY 1""").fetchall()


VOLATILE_LINES = ("--", "\\restrict", "\\unrestrict",
                  "UPDATE pg_catalog.pg_class", "SET relfrozenxid", "WHERE oid = ")


def schema_of(cluster, dbname):
    """The extension's objects as pg_dump writes them out in binary-upgrade mode (the one mode
    that dumps an extension's members), without the OIDs that differ between databases."""
    out = _as_postgres([f"{PG_BIN}/pg_dump", "-h", cluster.dir, "-U", "postgres",
                        "--schema-only", "--binary-upgrade", dbname])
    kept = []
    for line in out.stdout.splitlines():
        # \restrict carries a random key; binary_upgrade_set_* carry OIDs, and the pg_class
        # updates a table's OID and frozen transaction ID.
        if "binary_upgrade_set_" in line or line.startswith(VOLATILE_LINES) or not line.strip():
            continue
        # The configuration tables, by OID; extconfig() compares them by name.
        kept.append(re.sub(r"'\{[0-9,]+\}'", "'{oids}'", line))
    return kept


def extconfig(conn):
    return conn.execute("""
        SELECT array(SELECT c::regclass::text FROM unnest(e.extconfig) AS c ORDER BY 1),
               e.extcondition
        FROM pg_extension e WHERE e.extname = 'revocation'""").fetchone()


def test_update_from_the_first_release_loses_nothing(cluster, old_db, fresh_db):
    version = current_version()
    assert version != FIRST_RELEASE
    with cluster.connect(old_db) as admin:
        tokens = populate(admin)
        # The 0.1.0 objects work on today's library before the update...
        assert verdicts(admin, tokens) == EXPECTED
        before_rows = rows(admin)
        before_grants = grants(admin)
        signer_before = signing_kid(admin)
        # ...and a session opened now must come through the update with the same verdicts.
        with cluster.connect(old_db) as open_session:
            assert verdicts(open_session, tokens) == EXPECTED
            admin.execute("ALTER EXTENSION revocation UPDATE")
            assert admin.execute("SELECT extversion FROM pg_extension "
                                 "WHERE extname = 'revocation'").fetchone() == (version,)
            assert verdicts(open_session, tokens) == EXPECTED

        assert rows(admin) == before_rows
        assert verdicts(admin, tokens) == EXPECTED
        # New tokens are signed by the key that signed before, and verify.
        assert signing_kid(admin) == signer_before
        token = admin.execute("SELECT revocation.jwt_sign('{\"sub\":\"dave\"}', "
                              "dbs => ARRAY[current_database()])").fetchone()[0]
        assert admin.execute("SELECT active FROM revocation.jwt_check(%s)",
                             (token,)).fetchone() == (True,)

        # What an upgraded database holds is exactly what a fresh install would hold.
        new_grants = {g for g in grants(admin) if g not in before_grants}
        assert new_grants == NEW_FUNCTIONS
        with cluster.connect(fresh_db) as fresh:
            assert grants(admin) == grants(fresh)
            assert extconfig(admin) == extconfig(fresh)
        upgraded_schema = schema_of(cluster, old_db)
        fresh_schema = schema_of(cluster, fresh_db)
        if upgraded_schema != fresh_schema:
            diff = "\n".join(difflib.unified_diff(fresh_schema, upgraded_schema, "fresh",
                                                   "upgraded", lineterm="", n=2))
            pytest.fail(f"the upgraded schema differs from a fresh install:\n{diff}")
        assert any("jwt_purge_revocations" in line for line in upgraded_schema)


def test_the_upgraded_database_dumps_and_restores(cluster, old_db):
    with cluster.connect(old_db) as admin:
        tokens = populate(admin)
        admin.execute("ALTER EXTENSION revocation UPDATE")
        before = rows(admin)
    dump = os.path.join(cluster.dir, "upgraded.pgc")
    _as_postgres([f"{PG_BIN}/pg_dump", "-h", cluster.dir, "-U", "postgres", "-Fc",
                  "-f", dump, old_db])
    restored = "upgraded_restored"
    cluster.sql(f"CREATE DATABASE {restored}")
    try:
        _as_postgres([f"{PG_BIN}/pg_restore", "-h", cluster.dir, "-U", "postgres",
                      "-d", restored, "--exit-on-error", dump])
        with cluster.connect(restored) as conn:
            assert conn.execute("SELECT extversion FROM pg_extension "
                                "WHERE extname = 'revocation'").fetchone() == (current_version(),)
            got = {name: conn.execute("SELECT active, reason FROM revocation.jwt_check(%s, %s)",
                                      (t, old_db)).fetchone()
                   for name, t in tokens.items()}
            # Checked for the old database's name: the tokens list it, and its policy came along.
            assert got == EXPECTED
            after = rows(conn)
            # Restored rows are numbered afresh; everything else is as it was.
            strip = lambda rs: [r[:-1] for r in rs]  # noqa: E731
            assert strip(after["invalidated_tokens"]) == strip(before["invalidated_tokens"])
            assert strip(after["invalidated_subjects"]) == strip(before["invalidated_subjects"])
            assert after["signing_keys"] == before["signing_keys"]
    finally:
        cluster.sql(f"DROP DATABASE {restored} WITH (FORCE)")


def test_the_update_script_refuses_to_run_outside_alter_extension(cluster, fresh_db):
    script = os.path.join(ROOT, "sql", f"revocation--{FIRST_RELEASE}--{current_version()}.sql")
    before = cluster.sql("SELECT count(*) FROM pg_proc", dbname=fresh_db)
    psql = [f"{PG_BIN}/psql", "-h", cluster.dir, "-U", "postgres", "-X",
            "-v", "ON_ERROR_STOP=1", "-d", fresh_db]
    if os.geteuid() == 0:
        psql = ["runuser", "-u", "postgres", "--"] + psql
    # Fed on stdin: the postgres user may not be able to read the checkout.
    with open(script) as f:
        out = subprocess.run(psql, stdin=f, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        f"Use \"ALTER EXTENSION revocation UPDATE TO '{current_version()}'\" to load this file.")
    assert cluster.sql("SELECT count(*) FROM pg_proc", dbname=fresh_db) == before


def test_every_release_has_a_path_to_the_current_version(cluster):
    paths = cluster.sql("SELECT source, path FROM pg_extension_update_paths('revocation') "
                        f"WHERE target = '{current_version()}' AND source <> target")
    assert paths == [(FIRST_RELEASE, f"{FIRST_RELEASE}--{current_version()}")]


def test_grants_made_at_the_old_version_survive_the_update(cluster, old_db):
    role = "upgrade_revoker"
    cluster.sql(f"CREATE ROLE {role} LOGIN")
    try:
        with cluster.connect(old_db) as admin:
            admin.execute(f"""
                GRANT EXECUTE ON FUNCTION revocation.jwt_revoke(text, text, timestamptz)
                    TO {role};
                GRANT SELECT, INSERT (jti, reason, expires_at), UPDATE (expires_at)
                    ON revocation.invalidated_tokens TO {role}""")
            before = grants(admin)
            admin.execute("ALTER EXTENSION revocation UPDATE")
            assert set(grants(admin)) - set(before) == NEW_FUNCTIONS
            assert set(before) <= set(grants(admin))
        with cluster.connect(old_db, user=role) as conn:
            conn.execute("SELECT revocation.jwt_revoke('after-update')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT revocation.jwt_purge_revocations()")
    finally:
        cluster.sql(f"DROP OWNED BY {role}", dbname=old_db)
        cluster.sql(f"DROP ROLE {role}")


def test_a_failed_update_changes_nothing(cluster, old_db):
    """ALTER EXTENSION runs in the caller's transaction: rolled back, the database is at 0.1.0
    with its rows, and the update can be run again."""
    with cluster.connect(old_db, autocommit=False) as admin:
        populate(admin)
        admin.commit()
        before = rows(admin)
        admin.execute("ALTER EXTENSION revocation UPDATE")
        admin.rollback()
        assert admin.execute("SELECT extversion FROM pg_extension "
                             "WHERE extname = 'revocation'").fetchone() == (FIRST_RELEASE,)
        assert admin.execute("SELECT count(*) FROM pg_proc "
                             "WHERE proname = 'jwt_purge_revocations'").fetchone() == (0,)
        assert rows(admin) == before
        admin.execute("ALTER EXTENSION revocation UPDATE")
        admin.commit()
        assert rows(admin) == before


def test_the_update_does_not_wait_for_readers(cluster, old_db):
    """A session in the middle of a transaction that has verified tokens holds a reader's lock
    on every table; the update must not queue behind it (and so stop every new check queued
    behind the update)."""
    with cluster.connect(old_db) as admin:
        tokens = populate(admin)
    with cluster.connect(old_db, autocommit=False) as reader:
        assert verdicts(reader, tokens) == EXPECTED          # transaction open, locks held
        with cluster.connect(old_db) as admin:
            admin.execute("SET lock_timeout = '3s'")
            admin.execute("ALTER EXTENSION revocation UPDATE")
            assert admin.execute("SELECT extversion FROM pg_extension "
                                 "WHERE extname = 'revocation'").fetchone() == (current_version(),)
        assert verdicts(reader, tokens) == EXPECTED
        reader.commit()
