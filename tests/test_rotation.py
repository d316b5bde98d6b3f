"""Key rotation without a restart, JWKS out and in, key validation, the Google authorize URL."""

import json
import time
import urllib.parse

import jwt
import psycopg
import pytest
from conftest import claims, key_text, pyjwt_token

OLD = b"old-signing-secret-with-32-bytes"
NEW = b"new-signing-secret-with-32-bytes"


def kid_of(conn, token):
    return conn.execute("SELECT active, kid FROM revocation.jwt_check(%s)", (token,)).fetchone()


def test_rotation_is_seen_by_every_live_connection(db):
    db.sql("SELECT revocation.jwt_add_key('k-old', 'HS256', secret => %s, "
           "usable_from => now() - interval '1 hour')", (OLD,))
    readers = [db.connect() for _ in range(4)]
    try:
        old_token = db.one("SELECT revocation.jwt_sign('{\"sub\":\"a\"}')")
        for r in readers:
            assert kid_of(r, old_token) == (True, "k-old")
        row = db.sql("SELECT * FROM revocation.jwt_rotate_key('k-new', 'HS256', secret => %s, "
                     "\"window\" => '1 hour')", (NEW,))[0]
        assert row[:2] == ("k-new", "k-old")
        new_token = db.one("SELECT revocation.jwt_sign('{\"sub\":\"a\"}')")
        assert jwt.get_unverified_header(new_token)["kid"] == "k-new"
        for r in readers:                       # no reconnect: the next check sees both keys
            assert kid_of(r, new_token) == (True, "k-new")
            assert kid_of(r, old_token) == (True, "k-old")
        # The old key only verifies now.
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            db.sql("SELECT revocation.jwt_sign('{}', 'k-old')")
        # The window closes by itself: as of a moment after it, the old key is not used.
        after = db.sql("SELECT active, reason FROM revocation.jwt_check(%s, "
                       "at => now() + interval '2 hours')", (old_token,))
        assert after == [(False, "key_inactive")]
        # A compromised key is retired at once.
        db.sql("SELECT revocation.jwt_retire_key('k-old')")
        for r in readers:
            assert r.execute("SELECT reason FROM revocation.jwt_check(%s)",
                             (old_token,)).fetchone() == ("key_inactive",)
    finally:
        for r in readers:
            r.close()


def test_retire_key_needs_a_known_kid(db):
    with pytest.raises(psycopg.errors.UndefinedObject):
        db.sql("SELECT revocation.jwt_retire_key('nope')")


ASYM = [("RS256", "rsa2048"), ("PS384", "rsa2048b"), ("ES256", "p256"), ("ES384", "p384"),
        ("EdDSA", "ed25519")]


def test_jwks_export_verifies_in_pyjwt(db):
    db.sql("SELECT revocation.jwt_add_key('hs', 'HS256', secret => %s)", (OLD,))
    for alg, name in ASYM:
        db.sql("SELECT revocation.jwt_add_key(%s, %s, public_key => %s, private_key => %s)",
               (name, alg, key_text(f"{name}.pub"), key_text(f"{name}.key")))
    jwks = db.one("SELECT revocation.jwt_jwks()")
    assert sorted(k["kid"] for k in jwks["keys"]) == sorted(name for _, name in ASYM)
    text = json.dumps(jwks)
    for secret_part in ["\"d\"", "\"k\"", "PRIVATE", OLD.decode()]:
        assert secret_part not in text
    by_kid = {k["kid"]: k for k in jwks["keys"]}
    for alg, name in ASYM:
        assert by_kid[name]["alg"] == alg and by_kid[name]["use"] == "sig"
        token = db.one("SELECT revocation.jwt_sign('{\"sub\":\"x\"}', %s)", (name,))
        key = jwt.PyJWK(by_kid[name])
        assert jwt.decode(token, key.key, algorithms=[alg])["sub"] == "x"


def test_imported_jwks_verify_pyjwt_tokens(db):
    from cryptography.hazmat.primitives import serialization
    keys, private = [], {}
    for alg, name in ASYM:
        pem = key_text(f"{name}.key")
        private[name] = pem
        pub = serialization.load_pem_private_key(pem.encode(), None).public_key()
        jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(pub))
        jwk.update({"kid": f"idp-{name}", "alg": alg, "use": "sig"})
        keys.append(jwk)
    imported = [r[0] for r in db.sql("SELECT revocation.jwt_import_jwks(%s)",
                                     (json.dumps({"keys": keys}),))]
    assert sorted(imported) == sorted(f"idp-{name}" for _, name in ASYM)
    for alg, name in ASYM:
        token = pyjwt_token(claims(sub=name), private[name], alg, kid=f"idp-{name}")
        assert db.one("SELECT revocation.jwt_verify(%s)->>'sub'", (token,)) == name
    # Importing the same set again changes nothing.
    assert db.sql("SELECT revocation.jwt_import_jwks(%s)", (json.dumps({"keys": keys}),)) == []


def _rsa_jwk(**extra):
    from cryptography.hazmat.primitives import serialization
    pub = serialization.load_pem_public_key(key_text("rsa2048.pub").encode())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(pub))
    jwk.update({"kid": "bad", "alg": "RS256"})
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not None}


@pytest.mark.parametrize("jwk,message", [
    (_rsa_jwk(alg=None), 'JWK "bad" is refused: it has no "alg"'),
    (_rsa_jwk(alg="ES256"), 'JWK "bad" is refused: alg ES256 does not fit key type "RSA"'),
    (_rsa_jwk(use="enc"), 'JWK "bad" is refused: its use is not "sig"'),
    ({"kty": "oct", "kid": "bad", "alg": "HS256", "k": "c2VjcmV0"},
     'JWK "bad" is refused: symmetric (oct) keys cannot be imported; add a shared secret with '
     'jwt_add_key'),
    (_rsa_jwk(d="AQAB"), 'JWK "bad" is refused: it contains private key material'),
    (_rsa_jwk(n="AQAB"), 'JWK "bad" is refused: an RSA key for RS256 must have at least 2048 '
     'bits, got 17'),
    ({"kty": "EC", "kid": "bad", "alg": "ES256", "crv": "P-384", "x": "AA", "y": "AA"},
     'JWK "bad" is refused: ES256 needs a P-256 key, got P-384'),
    (_rsa_jwk(kid=None), 'JWK "?" is refused: it has no kid'),
])
def test_import_refuses(db, jwk, message):
    good = _rsa_jwk(kid="fine")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
        db.sql("SELECT revocation.jwt_import_jwks(%s)", (json.dumps({"keys": [good, jwk]}),))
    assert caught.value.diag.message_primary == message
    assert db.one("SELECT count(*) FROM revocation.signing_keys") == 0   # all or nothing


@pytest.mark.filterwarnings("ignore:The HMAC key is 1 bytes long")
def test_a_weak_row_that_slipped_in_is_not_used(db):
    db.sql("ALTER TABLE revocation.signing_keys DISABLE TRIGGER check_signing_key")
    db.sql("INSERT INTO revocation.signing_keys (kid, alg, secret) VALUES ('weak', 'HS256', 'x')")
    db.sql("ALTER TABLE revocation.signing_keys ENABLE TRIGGER check_signing_key")
    assert db.sql("SELECT * FROM revocation.jwt_validate_keys()") == \
        [("weak", "an HS256 secret must be at least 32 bytes, got 1")]
    token = pyjwt_token(claims(), b"x", "HS256", kid="weak")
    with db.connect() as conn:
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        assert conn.execute("SELECT reason FROM revocation.jwt_check(%s)",
                            (token,)).fetchone() == ("unknown_key",)
        assert notices == ['signing key "weak" is not used: an HS256 secret must be at least 32 '
                           'bytes, got 1']


def test_google_authorize_url(db):
    url = db.one("SELECT revocation.oauth_google_authorize_url(%s, %s, %s, %s)",
                 ("id.apps.googleusercontent.com", "https://app.example/cb?a=1&b=2",
                  ["openid", "https://www.googleapis.com/auth/drive.readonly"], "x y&z"))
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == \
        ("https", "accounts.google.com", "/o/oauth2/v2/auth")
    query = urllib.parse.parse_qs(parts.query, strict_parsing=True)
    assert query == {
        "response_type": ["code"], "client_id": ["id.apps.googleusercontent.com"],
        "redirect_uri": ["https://app.example/cb?a=1&b=2"],
        "scope": ["openid https://www.googleapis.com/auth/drive.readonly"],
        "state": ["x y&z"], "access_type": ["offline"], "prompt": ["consent"],
        "include_granted_scopes": ["true"],
    }
    assert "+" not in parts.query and " " not in parts.query
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.sql("SELECT revocation.oauth_google_authorize_url('id', 'http://evil/cb', "
               "ARRAY['openid'], 's')")


def test_a_retirement_cannot_be_undone_or_delayed(db):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (OLD,))
    db.sql("SELECT revocation.jwt_retire_key('k', now() + interval '1 hour')")
    db.sql("SELECT revocation.jwt_retire_key('k')")              # brought forward: fine
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        db.sql("SELECT revocation.jwt_retire_key('k', NULL)")
    for sql in ["SELECT revocation.jwt_retire_key('k', now() + interval '1 day')",
                "UPDATE revocation.signing_keys SET retired_at = NULL"]:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as caught:
            db.sql(sql)
        assert caught.value.diag.message_primary == \
            'signing key "k" is retired; its retirement cannot be undone or delayed'


def test_rotating_to_a_key_that_cannot_sign_is_refused(db):
    db.sql("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (OLD,))
    with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
        db.sql("SELECT revocation.jwt_rotate_key('r', 'RS256', public_key => %s)",
               (key_text("rsa2048.pub"),))
    assert caught.value.diag.message_primary == "the new key cannot sign"
    assert db.one("SELECT retired_at FROM revocation.signing_keys WHERE kid = 'k'") is None


@pytest.mark.parametrize("extra,message", [
    ({"key_ops": ["encrypt"]}, 'JWK "bad" is refused: its key_ops do not include "verify"'),
    ({"oth": []}, 'JWK "bad" is refused: it contains private key material'),
])
def test_import_refuses_more(db, extra, message):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as caught:
        db.sql("SELECT revocation.jwt_import_jwks(%s)",
               (json.dumps({"keys": [_rsa_jwk(**extra)]}),))
    assert caught.value.diag.message_primary == message
