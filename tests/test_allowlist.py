"""The database allowlist claim, per-database enforcement, and the entry points that use it:
RLS helpers reading the token from a session setting, and the PostgREST pre-request hook."""

import json
import time

import psycopg
import pytest
from conftest import HS_SECRET, claims, pyjwt_token

FORGED_SECRET = b"not-the-real-secret-but-32-bytes"


@pytest.fixture
def hs(db):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    return db


def token(**extra):
    return pyjwt_token(claims(**extra), HS_SECRET, "HS256", kid="k")


def check(conn, t, db=None):
    if db is None:
        return conn.execute("SELECT active, reason FROM revocation.jwt_check(%s)",
                            (t,)).fetchone()
    return conn.execute("SELECT active, reason FROM revocation.jwt_check(%s, %s)",
                        (t, db)).fetchone()


def raised(conn, query, params=None):
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(query, params)
    return caught.value.sqlstate, caught.value.diag.message_primary


@pytest.mark.parametrize("dbs,target,expected", [
    (["here", "there"], "here", (True, None)),
    (["there"], "here", (False, "database_not_allowed")),
    (["HERE"], "here", (False, "database_not_allowed")),      # exact match, case included
    ("here", "here", (False, "invalid_claim")),               # a string, not an array
    ([], "here", (False, "invalid_claim")),
    ([1, 2], "here", (False, "invalid_claim")),
    (["here", 7], "here", (False, "invalid_claim")),
    ([["here"]], "here", (False, "invalid_claim")),           # nested
    ({"here": True}, "here", (False, "invalid_claim")),
    (None, "here", (False, "invalid_claim")),                 # JSON null
])
def test_claim_shapes(hs, dbs, target, expected):
    with hs.connect() as conn:
        assert check(conn, token(dbs=dbs), target) == expected


def test_the_database_argument_defaults_to_the_current_one(hs):
    with hs.connect() as conn:
        assert check(conn, token(dbs=[hs.name])) == (True, None)
        assert check(conn, token(dbs=["elsewhere"])) == (False, "database_not_allowed")
        sqlstate, message = raised(conn, "SELECT revocation.jwt_verify(%s)",
                                   (token(dbs=["elsewhere"]),))
        assert (sqlstate, message) == ("28J12", f'token is not valid for database "{hs.name}"')


def test_missing_claim_with_enforcement_off_and_on(hs):
    bare = token()
    with hs.connect() as reader:
        assert check(reader, bare) == (True, None)
        hs.sql("SELECT revocation.require_database_claim()")      # switched in another session
        assert check(reader, bare) == (False, "database_claim_required")
        assert raised(reader, "SELECT revocation.jwt_verify(%s)", (bare,)) \
            == ("28J15", "token has no dbs claim")
        assert check(reader, token(dbs=[hs.name])) == (True, None)
        assert check(reader, bare, "other_db") == (True, None)   # enforcement is per database
        hs.sql("SELECT revocation.require_database_claim(required => false)")
        assert check(reader, bare) == (True, None)


def test_jwt_sign_scopes_at_issuance(hs):
    t = hs.one("SELECT revocation.jwt_sign('{\"sub\":\"a\"}', dbs => ARRAY[%s, 'reports'])",
               (hs.name,))
    assert hs.one("SELECT revocation.jwt_verify(%s)->'dbs'", (t,)) == [hs.name, "reports"]
    assert hs.one("SELECT reason FROM revocation.jwt_check(%s, 'billing')", (t,)) \
        == "database_not_allowed"


def test_the_claim_name_is_configurable(hs):
    with hs.connect() as conn:
        conn.execute("SET revocation.databases_claim = 'https://example.com/dbs'")
        t = token(**{"https://example.com/dbs": ["nowhere"], "dbs": [hs.name]})
        assert check(conn, t) == (False, "database_not_allowed")


def test_claims_and_subject_from_the_session_setting(hs):
    t = token(sub="alice", dbs=[hs.name])
    with hs.connect() as conn:
        assert conn.execute("SELECT revocation.claims(), revocation.subject()").fetchone() \
            == (None, None)
        conn.execute("SELECT set_config('request.token', %s, false)", (t,))
        got = conn.execute("SELECT revocation.claims()->>'sub', revocation.subject()").fetchone()
        assert got == ("alice", "alice")
        conn.execute("SELECT set_config('request.token', %s, false)",
                     (pyjwt_token(claims(sub="alice"), FORGED_SECRET, "HS256", kid="k"),))
        assert raised(conn, "SELECT revocation.subject()") == ("28J06", "invalid token signature")


def test_the_cached_verdict_is_dropped_on_revocation_and_policy_change(hs):
    t = token(sub="alice", jti="j-cached")
    with hs.connect() as conn:
        conn.execute("SELECT set_config('request.token', %s, false)", (t,))
        assert conn.execute("SELECT revocation.subject()").fetchone() == ("alice",)
        hs.sql("SELECT revocation.jwt_revoke('j-cached')")
        assert raised(conn, "SELECT revocation.subject()")[0] == "28J13"
    t2 = token(sub="bob")
    with hs.connect() as conn:
        conn.execute("SELECT set_config('request.token', %s, false)", (t2,))
        assert conn.execute("SELECT revocation.subject()").fetchone() == ("bob",)
        hs.sql("SELECT revocation.require_database_claim()")
        assert raised(conn, "SELECT revocation.subject()")[0] == "28J15"
        conn.execute("SET revocation.require_jti = off")  # a settings change is seen too
        hs.sql("SELECT revocation.require_database_claim(required => false)")
        assert conn.execute("SELECT revocation.subject()").fetchone() == ("bob",)
        conn.execute("SET revocation.audience = 'api'")
        assert raised(conn, "SELECT revocation.subject()")[0] == "28J10"


@pytest.fixture
def rls(hs):
    roles = [f"{hs.name}_alice", f"{hs.name}_bob"]
    for role in roles:
        hs.sql(f"CREATE ROLE {role} LOGIN")
    hs.sql("CREATE TABLE docs (owner text NOT NULL, body text NOT NULL)")
    hs.sql("INSERT INTO docs VALUES ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1')")
    hs.sql("ALTER TABLE docs ENABLE ROW LEVEL SECURITY")
    hs.sql("CREATE POLICY by_subject ON docs USING (owner = revocation.subject())")
    hs.sql(f"GRANT SELECT ON docs TO {roles[0]}, {roles[1]}")
    yield roles
    for role in roles:
        hs.sql(f"DROP OWNED BY {role}")
        hs.sql(f"DROP ROLE {role}")


def rows(hs, role, t):
    with hs.connect(user=role) as conn:
        if t is not None:
            conn.execute("SELECT set_config('request.token', %s, false)", (t,))
        return [r[0] for r in conn.execute("SELECT body FROM docs ORDER BY body")]


def test_rls_two_users(hs, rls):
    alice_role, bob_role = rls
    assert rows(hs, alice_role, token(sub="alice", dbs=[hs.name])) == ["a1", "a2"]
    assert rows(hs, bob_role, token(sub="bob", dbs=[hs.name])) == ["b1"]
    assert rows(hs, bob_role, None) == []


def test_rls_a_forged_setting_gains_nothing(hs, rls):
    _, bob_role = rls
    forged = pyjwt_token(claims(sub="alice"), FORGED_SECRET, "HS256", kid="k")
    with pytest.raises(psycopg.Error) as caught:
        rows(hs, bob_role, forged)
    assert caught.value.sqlstate == "28J06"
    # A token for another database is refused here as well.
    with pytest.raises(psycopg.Error) as caught:
        rows(hs, bob_role, token(sub="alice", dbs=["other"]))
    assert caught.value.sqlstate == "28J12"
    # Setting the claims directly, as some gateways do, is not a token and changes nothing.
    with hs.connect(user=bob_role) as conn:
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)",
                     (json.dumps({"sub": "alice"}),))
        assert conn.execute("SELECT body FROM docs").fetchall() == []


def test_the_token_setting_cannot_be_redirected_by_users(hs, rls):
    _, bob_role = rls
    with hs.connect(user=bob_role) as conn:
        conn.execute("SELECT revocation.subject()")  # loads the library
        assert raised(conn, "SET revocation.token_setting = 'x.y'")[0] == "42501"


def pre_request(conn, headers):
    conn.execute("SELECT set_config('request.headers', %s, true)", (json.dumps(headers),))
    conn.execute("SELECT revocation.postgrest_pre_request()")


@pytest.mark.parametrize("headers,sqlstate,detail_start", [
    ({"authorization": "Bearer {forged}"}, "PT401", "Reason: bad_signature (SQLSTATE 28J06)."),
    ({"authorization": "Bearer {other_db}"}, "PT401",
     "Reason: database_not_allowed (SQLSTATE 28J12)."),
    ({"authorization": "Basic dXNlcjpwYXNz"}, "PT401", "Reason: malformed (SQLSTATE 28J01)."),
    ({"authorization": "Bearer {revoked}"}, "PT401", "Reason: revoked (SQLSTATE 28J13)."),
])
def test_postgrest_pre_request_refuses(hs, headers, sqlstate, detail_start):
    tokens = {
        "forged": pyjwt_token(claims(), FORGED_SECRET, "HS256", kid="k"),
        "other_db": token(dbs=["other"]),
        "revoked": token(jti="j-pre"),
    }
    hs.sql("SELECT revocation.jwt_revoke('j-pre')")
    headers = {k: v.format(**tokens) for k, v in headers.items()}
    with hs.connect(autocommit=False) as conn:
        with pytest.raises(psycopg.Error) as caught:
            pre_request(conn, headers)
        assert caught.value.sqlstate == sqlstate
        assert caught.value.diag.message_detail.startswith(detail_start)


def test_postgrest_pre_request_accepts(hs):
    with hs.connect(autocommit=False) as conn:
        pre_request(conn, {"authorization": f"Bearer {token(dbs=[hs.name])}",
                           "accept": "application/json"})
        pre_request(conn, {"authorization": f"bearer {token()}"})
        pre_request(conn, {"accept": "*/*"})   # no token: an anonymous request passes
        conn.rollback()


def test_each_statement_of_one_query_string_is_judged_on_its_own(hs):
    """One simple-protocol message with several statements: a new token, a garbage token and a
    revocation in between are each seen by the next statement."""
    alice, bob = token(sub="alice", jti="j-a1"), token(sub="bob", jti="j-b1")
    with hs.connect() as conn:
        cur = conn.execute(
            f"SELECT set_config('request.token', '{alice}', false); SELECT revocation.subject();"
            f"SELECT set_config('request.token', '{bob}', false); SELECT revocation.subject();")
        subjects = []
        while True:
            subjects.append(cur.fetchone()[0])
            if not cur.nextset():
                break
        assert subjects[1::2] == ["alice", "bob"]
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(f"SELECT set_config('request.token', '{bob}', false); "
                         "SELECT revocation.subject(); "
                         "SELECT set_config('request.token', 'garbage', false); "
                         "SELECT revocation.subject();")
        assert caught.value.sqlstate == "28J01"
        conn.execute("SELECT set_config('request.token', %s, false)", (alice,))
        assert conn.execute("SELECT revocation.subject()").fetchone() == ("alice",)
        # A revocation committed (here, by an earlier statement of the same message, which
        # commits it in its own implicit transaction only at the end, so use a second message)
        # is seen by the next statement.
        hs.sql("SELECT revocation.jwt_revoke('j-a1')")
        with pytest.raises(psycopg.Error) as caught:
            conn.execute("SELECT 1; SELECT revocation.subject();")
        assert caught.value.sqlstate == "28J13"


def test_a_key_retired_on_schedule_ends_a_cached_verdict(hs):
    hs.sql("UPDATE revocation.signing_keys SET usable_from = now() - interval '1 hour', "
           "retired_at = now() + interval '2 seconds'")
    t = token(sub="alice")
    with hs.connect() as conn:
        conn.execute("SELECT set_config('request.token', %s, false)", (t,))
        assert conn.execute("SELECT revocation.subject()").fetchone() == ("alice",)
        time.sleep(2.5)
        assert raised(conn, "SELECT revocation.subject()")[0] == "28J05"


def test_policy_admins_cannot_forge_who_changed_a_policy(hs):
    role = f"{hs.name}_padmin"
    hs.sql(f"CREATE ROLE {role} LOGIN")
    try:
        hs.sql(f"""GRANT EXECUTE ON FUNCTION revocation.require_database_claim(text, boolean)
                       TO {role};
                   GRANT SELECT, INSERT (db, require_claim), UPDATE (require_claim)
                       ON revocation.database_policies TO {role}""")
        with hs.connect(user=role) as conn:
            conn.execute("SELECT revocation.require_database_claim('reports')")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("INSERT INTO revocation.database_policies "
                             "VALUES ('x', true, '2001-01-01', 'postgres')")
        hs.sql("SELECT revocation.require_database_claim('reports', false)")
        assert hs.sql("SELECT updated_by FROM revocation.database_policies") == [("postgres",)]
    finally:
        hs.sql(f"DROP OWNED BY {role}")
        hs.sql(f"DROP ROLE {role}")
