"""Interop both ways with PyJWT, an independent JOSE implementation, using keys made by
openssl: tokens PyJWT signs verify in jwt_verify, and tokens jwt_sign makes verify in PyJWT."""

import subprocess

import jwt
import psycopg
import pytest
from conftest import HS_SECRET, claims, key_text, pyjwt_token

ASYMMETRIC = [
    # (alg, private key file, public key file)
    ("RS256", "rsa2048.key", "rsa2048.pub"),
    ("RS384", "rsa2048.key", "rsa2048.pub"),
    ("RS512", "rsa2048.key", "rsa2048.pub"),
    ("PS256", "rsa2048.key", "rsa2048.pub"),
    ("PS384", "rsa2048.key", "rsa2048.pub"),
    ("PS512", "rsa2048.key", "rsa2048.pub"),
    ("ES256", "p256.key", "p256.pub"),
    ("ES384", "p384.key", "p384.pub"),
    ("EdDSA", "ed25519.key", "ed25519.pub"),
]


def add_asymmetric(db, kid, alg, private, public):
    db.sql("SELECT revocation.jwt_add_key(%s, %s, public_key => %s, private_key => %s)",
           (kid, alg, key_text(public), key_text(private)))


@pytest.mark.parametrize("alg,private,public", ASYMMETRIC)
def test_pyjwt_tokens_verify(db, alg, private, public):
    add_asymmetric(db, "k1", alg, private, public)
    payload = claims(sub="carol")
    token = pyjwt_token(payload, key_text(private), alg, kid="k1")
    assert db.one("SELECT revocation.jwt_verify(%s)", (token,)) == payload
    # Without a kid, every usable key of the alg is tried.
    token = pyjwt_token(payload, key_text(private), alg)
    assert db.one("SELECT revocation.jwt_verify(%s)->>'sub'", (token,)) == "carol"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_pyjwt_hmac_tokens_verify(db, alg):
    secret = HS_SECRET * 2  # 64 bytes: long enough for every HMAC size
    db.sql("SELECT revocation.jwt_add_key('h', %s, secret => %s)", (alg, secret))
    payload = claims()
    assert db.one("SELECT revocation.jwt_verify(%s)", (pyjwt_token(payload, secret, alg, "h"),)) \
        == payload


@pytest.mark.parametrize("alg,private,public", ASYMMETRIC)
def test_jwt_sign_tokens_verify_in_pyjwt(db, alg, private, public):
    add_asymmetric(db, "k1", alg, private, public)
    token = db.one("""SELECT revocation.jwt_sign('{"sub":"dave","aud":"svc"}')""")
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": "k1", "typ": "JWT"}
    decoded = jwt.decode(token, key_text(public), algorithms=[alg], audience="svc",
                         options={"require": ["exp", "iat", "jti"]})
    assert decoded["sub"] == "dave"
    assert decoded["exp"] - decoded["iat"] == 3600


def test_jwt_sign_hmac_verifies_in_pyjwt(db):
    db.sql("SELECT revocation.jwt_add_key('h', 'HS256', secret => %s)", (HS_SECRET,))
    token = db.one("""SELECT revocation.jwt_sign('{"sub":"erin"}', lifetime => '5 minutes')""")
    decoded = jwt.decode(token, HS_SECRET, algorithms=["HS256"])
    assert decoded["sub"] == "erin" and decoded["exp"] - decoded["iat"] == 300


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True,
                          input=stdin).stdout


@pytest.mark.parametrize("alg,genpkey", [
    ("RS256", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    ("ES256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
    ("EdDSA", ["-algorithm", "ED25519"]),
])
def test_fresh_openssl_keys(db, alg, genpkey):
    private = openssl("genpkey", *genpkey).decode()
    public = openssl("pkey", "-pubout", stdin=private.encode()).decode()
    db.sql("SELECT revocation.jwt_add_key('fresh', %s, public_key => %s)", (alg, public))
    token = pyjwt_token(claims(), private, alg, kid="fresh")
    assert db.one("SELECT active FROM revocation.jwt_check(%s)", (token,)) is True


def test_openssl_hmac_secret(db):
    secret = openssl("rand", "32")
    db.sql("SELECT revocation.jwt_add_key('rand', 'HS256', secret => %s)", (secret,))
    token = pyjwt_token(claims(), secret, "HS256", kid="rand")
    assert db.one("SELECT active FROM revocation.jwt_check(%s)", (token,)) is True


@pytest.mark.parametrize("make,sqlstate,message", [
    (lambda: pyjwt_token(claims(), b"x" * 32, "HS256", kid="h"), "28J06",
     "invalid token signature"),
    (lambda: pyjwt_token(claims(exp=1), HS_SECRET, "HS256", kid="h"), "28J08",
     "token has expired"),
    (lambda: pyjwt_token(claims(), HS_SECRET, "HS256", kid="missing"), "28J04",
     'unknown signing key "missing"'),
    (lambda: pyjwt_token(claims(), key_text("p256.key"), "ES256", kid="h"), "28J03",
     'token algorithm "ES256" does not match signing key "h"'),
])
def test_rejections_reach_the_client_with_their_sqlstate(db, make, sqlstate, message):
    db.sql("SELECT revocation.jwt_add_key('h', 'HS256', secret => %s)", (HS_SECRET,))
    token = make()
    with pytest.raises(psycopg.Error) as caught:
        db.sql("SELECT revocation.jwt_verify(%s)", (token,))
    assert caught.value.sqlstate == sqlstate
    assert caught.value.diag.message_primary == message
    # The token itself never appears in what the client is told.
    text = str(caught.value) + (caught.value.diag.message_detail or "")
    assert token not in text and token.split(".")[2] not in text
