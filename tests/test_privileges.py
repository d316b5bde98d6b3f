"""What an ordinary role may and may not do."""

import psycopg
import pytest
from conftest import HS_SECRET, claims, key_text, pyjwt_token


@pytest.fixture
def user(db):
    name = f"{db.name}_user"
    db.sql(f"CREATE ROLE {name} LOGIN")
    yield name
    db.sql(f"DROP OWNED BY {name}")
    db.sql(f"DROP ROLE {name}")


def as_user(db, user, query, params=None):
    with db.connect(user=user) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else None


def test_ordinary_role_verifies(db, user):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    token = pyjwt_token(claims(sub="u"), HS_SECRET, "HS256", kid="k")
    assert as_user(db, user, "SELECT revocation.jwt_verify(%s)->>'sub'", (token,)) == [("u",)]
    assert as_user(db, user, "SELECT kid, alg, can_sign FROM revocation.keys") \
        == [("k", "HS256", True)]


@pytest.mark.parametrize("query", [
    "SELECT secret FROM revocation.signing_keys",
    "SELECT revocation.jwt_sign('{}')",
    "SELECT revocation.jwt_add_key('x', 'HS256', secret => convert_to(repeat('x', 32), 'UTF8'))",
    "DELETE FROM revocation.signing_keys",
    "SELECT revocation.jwt_purge_revocations()",
])
def test_ordinary_role_is_refused(db, user, query):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(db, user, query)
    assert db.one("SELECT count(*) FROM revocation.signing_keys") == 1


TRUST_SETTINGS = [
    ("revocation.audience", "'anything'"),
    ("revocation.issuer", "'anyone'"),
    ("revocation.leeway", "300"),
    ("revocation.max_token_bytes", "1048576"),
]


@pytest.mark.parametrize("name,value", TRUST_SETTINGS)
def test_ordinary_role_cannot_change_trust_settings(db, user, name, value):
    with db.connect(user=user) as conn:
        conn.execute("SELECT revocation.jwt_check('x')")  # loads the library
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SET {name} = {value}")


@pytest.mark.parametrize("name,value", TRUST_SETTINGS)
def test_a_value_set_before_the_library_loads_is_dropped(db, user, name, value):
    """Before the library is loaded the setting is only a placeholder, which anyone can SET;
    PostgreSQL discards such a value when the library defines the real setting."""
    with db.connect(user=user) as conn:
        conn.execute(f"SET {name} = {value}")
        conn.execute("SELECT revocation.jwt_check('x')")
        shown = conn.execute(f"SELECT current_setting('{name}')").fetchone()[0]
    with db.connect() as admin:
        admin.execute("SELECT revocation.jwt_check('x')")
        default = admin.execute(f"SELECT current_setting('{name}')").fetchone()[0]
    assert shown == default != value.strip("'")


def test_granted_signer_signs_without_reading_keys(db, user):
    db.sql("SELECT revocation.jwt_add_key('r', 'RS256', public_key => %s, private_key => %s)",
           (key_text("rsa2048.pub"), key_text("rsa2048.key")))
    db.sql(f"GRANT EXECUTE ON FUNCTION revocation.jwt_sign(jsonb, text, interval, text[]) TO {user}")
    token = as_user(db, user, """SELECT revocation.jwt_sign('{"sub":"svc"}')""")[0][0]
    assert db.one("SELECT revocation.jwt_verify(%s)->>'sub'", (token,)) == "svc"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(db, user, "SELECT private_key FROM revocation.signing_keys")


def test_search_path_cannot_redirect_the_key_load(db, user):
    """A role that plants a signing_keys table of its own gains nothing: the loader reads
    revocation.signing_keys by its qualified name, as the owner."""
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    db.sql(f"CREATE SCHEMA {user}_s AUTHORIZATION {user}")
    evil = b"planted-secret-that-is-32-bytes!"
    with db.connect(user=user) as conn:
        conn.execute(f"CREATE TABLE {user}_s.signing_keys (LIKE pg_catalog.pg_class)")
        conn.execute(f"SET search_path = {user}_s, pg_catalog")
        forged = pyjwt_token(claims(), evil, "HS256", kid="k")
        row = conn.execute("SELECT active, reason FROM revocation.jwt_check(%s)",
                           (forged,)).fetchone()
        assert row == (False, "bad_signature")
