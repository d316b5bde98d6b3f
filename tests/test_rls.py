"""The main job: a row-level-security policy that trusts only a verified token."""

import psycopg
import pytest
from conftest import HS_SECRET, claims, key_text, pyjwt_token

FORGED_SECRET = b"not-the-real-secret-but-32-bytes"


@pytest.fixture
def app(db):
    role = f"{db.name}_app"
    db.sql(f"CREATE ROLE {role} LOGIN")
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (HS_SECRET,))
    db.sql("SELECT revocation.jwt_add_key('r', 'RS256', public_key => %s)",
           (key_text("rsa2048.pub"),))
    db.sql("CREATE TABLE notes (owner text NOT NULL, body text NOT NULL)")
    db.sql("INSERT INTO notes VALUES ('alice', 'a1'), ('alice', 'a2'), ('bob', 'b1')")
    db.sql("ALTER TABLE notes ENABLE ROW LEVEL SECURITY")
    db.sql("""CREATE POLICY by_token ON notes USING (
                owner = (SELECT revocation.jwt_verify(current_setting('app.token', true))->>'sub'))""")
    db.sql(f"GRANT SELECT ON notes TO {role}")
    yield role
    db.sql(f"DROP OWNED BY {role}")
    db.sql(f"DROP ROLE {role}")


def bodies(db, role, token):
    with db.connect(user=role) as conn:
        if token is not None:
            conn.execute("SELECT set_config('app.token', %s, false)", (token,))
        return [r[0] for r in conn.execute("SELECT body FROM notes ORDER BY body")]


def test_each_user_sees_only_their_rows(db, app):
    assert bodies(db, app, pyjwt_token(claims(sub="alice"), HS_SECRET, "HS256", "k")) \
        == ["a1", "a2"]
    assert bodies(db, app, pyjwt_token(claims(sub="bob"), key_text("rsa2048.key"), "RS256", "r")) \
        == ["b1"]
    signed_here = db.one("""SELECT revocation.jwt_sign('{"sub":"bob"}', 'k')""")
    assert bodies(db, app, signed_here) == ["b1"]


def test_no_token_sees_nothing(db, app):
    assert bodies(db, app, None) == []


@pytest.mark.parametrize("make,sqlstate", [
    (lambda: pyjwt_token(claims(sub="alice"), FORGED_SECRET, "HS256", "k"), "28J06"),
    (lambda: pyjwt_token(claims(sub="alice", exp=1000), HS_SECRET, "HS256", "k"), "28J08"),
    (lambda: pyjwt_token(claims(sub="alice"), key_text("rsa2048b.key"), "RS256", "r"), "28J06"),
    (lambda: "eyJhbGciOiJub25lIn0." + "eyJzdWIiOiJhbGljZSJ9.", "28J03"),
])
def test_bad_tokens_are_refused_with_their_reason(db, app, make, sqlstate):
    with pytest.raises(psycopg.Error) as caught:
        bodies(db, app, make())
    assert caught.value.sqlstate == sqlstate
