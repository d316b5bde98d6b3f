"""An attack corpus: known faults of other JWT verifiers, each refused with its exact reason."""

import base64
import json
import time

import psycopg
import pytest
from conftest import HS_SECRET, key_text

from cryptography.hazmat.primitives import serialization


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hmac_token(header, payload, key):
    import hashlib
    import hmac
    head = b64(json.dumps(header) if isinstance(header, dict) else header)
    body = b64(json.dumps(payload) if isinstance(payload, dict) else payload)
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def live(**extra):
    now = int(time.time())
    claims = {"sub": "mallory", "jti": f"a-{now}", "iat": now, "exp": now + 600}
    claims.update(extra)
    return claims


@pytest.fixture
def target(db):
    db.sql("SELECT revocation.jwt_add_key('hs', 'HS256', secret => %s)", (HS_SECRET,))
    for kid, alg, name in [("rs", "RS256", "rsa2048"), ("es", "ES256", "p256"),
                           ("ed", "EdDSA", "ed25519")]:
        db.sql("SELECT revocation.jwt_add_key(%s, %s, public_key => %s)",
               (kid, alg, key_text(f"{name}.pub")))
    return db


def reason(db, token):
    active, why = db.sql("SELECT active, reason FROM revocation.jwt_check(%s)", (token,))[0]
    return "accepted" if active else why


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "none "])
@pytest.mark.parametrize("signature", ["", "c2ln"])
def test_alg_none(target, alg, signature):
    token = f"{b64(json.dumps({'alg': alg, 'kid': 'hs'}))}.{b64(json.dumps(live()))}.{signature}"
    assert reason(target, token) == "algorithm_not_allowed"


def public_forms(name):
    pem = key_text(f"{name}.pub")
    key = serialization.load_pem_public_key(pem.encode())
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    forms = {
        "pem": pem.encode(),
        "pem without final newline": pem.rstrip("\n").encode(),
        "pem with crlf": pem.replace("\n", "\r\n").encode(),
        "pem with leading space": (" " + pem).encode(),
        "der": der,
    }
    if name.startswith("rsa"):
        forms["pkcs1"] = key.public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.PKCS1)
    import jwt
    alg = {"rsa2048": "RS256", "p256": "ES256", "ed25519": "EdDSA"}[name]
    forms["jwk json"] = jwt.algorithms.get_default_algorithms()[alg].to_jwk(key).encode()
    return forms


@pytest.mark.parametrize("kid,name", [("rs", "rsa2048"), ("es", "p256"), ("ed", "ed25519")])
def test_algorithm_confusion(target, kid, name):
    """An HS256 token MACed with the public key's text, in every form a user might hold it."""
    for form, key in public_forms(name).items():
        with_kid = hmac_token({"alg": "HS256", "kid": kid}, live(), key)
        assert reason(target, with_kid) == "algorithm_not_allowed", form
        without_kid = hmac_token({"alg": "HS256"}, live(), key)
        assert reason(target, without_kid) == "bad_signature", form   # only 'hs' is tried
        # And that text can never become an HMAC key in the first place.
        with pytest.raises(Exception) as caught:
            target.sql("SELECT revocation.jwt_add_key('conf', 'HS256', secret => %s)", (key,))
        assert "a public key is not a shared secret" in str(caught.value), form


@pytest.mark.parametrize("value", ["1900000000", "soon", True, {}, [1], None, -1, 1e300,
                                   10 ** 20, "infinity"])
@pytest.mark.parametrize("claim", ["exp", "nbf"])
def test_time_claims_of_the_wrong_type_or_range(target, claim, value):
    payload = live()
    payload[claim] = value
    assert reason(target, hmac_token({"alg": "HS256", "kid": "hs"}, payload, HS_SECRET)) \
        == "invalid_claim"


def test_float_times_and_future_nbf(target):
    now = time.time()
    ok = hmac_token({"alg": "HS256", "kid": "hs"}, live(exp=int(now) + 600.75), HS_SECRET)
    assert reason(target, ok) == "accepted"
    later = hmac_token({"alg": "HS256", "kid": "hs"}, live(nbf=int(now) + 3600), HS_SECRET)
    assert reason(target, later) == "not_yet_valid"


@pytest.mark.parametrize("kid,expected", [
    ("' OR '1'='1", "unknown_key"),
    ("hs'; DROP TABLE revocation.signing_keys; --", "unknown_key"),
    ("../../dev/null", "unknown_key"),
    ("k" * 10000, "unknown_key"),
    (7, "malformed"),
    ({"kid": "hs"}, "malformed"),
])
def test_kid_injection(target, kid, expected):
    token = hmac_token({"alg": "HS256", "kid": kid}, live(), b"")
    assert reason(target, token) == expected
    assert target.one("SELECT count(*) FROM revocation.signing_keys") == 4


def test_unknown_kid_message_is_short(target):
    with pytest.raises(Exception) as caught:
        target.sql("SELECT revocation.jwt_verify(%s)",
                   (hmac_token({"alg": "HS256", "kid": "k" * 10000}, live(), HS_SECRET),))
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("token,expected", [
    ("." * 1_000_000, "too_large"),
    ("a.b.c.d", "malformed"),
    ("a.b.c.d.e", "malformed"),
    ("a.b", "malformed"),
    ("", "malformed"),
])
def test_misshapen_input(target, token, expected):
    assert reason(target, token) == expected


def test_a_huge_validly_signed_payload_is_refused_by_size(target):
    token = hmac_token({"alg": "HS256", "kid": "hs"}, live(pad="x" * 1_000_000), HS_SECRET)
    assert reason(target, token) == "too_large"


def test_deeply_nested_claims(target):
    deep = "[" * 10000 + "]" * 10000
    payload = json.dumps(live())[:-1] + f', "deep": {deep}}}'
    token = hmac_token({"alg": "HS256", "kid": "hs"}, payload, HS_SECRET)
    assert reason(target, token) == "too_large"
    with target.connect() as conn:
        conn.execute("SET revocation.max_token_bytes = '1MB'")
        assert conn.execute("SELECT reason FROM revocation.jwt_check(%s)",
                            (token,)).fetchone() == ("malformed",)


def test_an_empty_hmac_key_never_verifies(target):
    assert reason(target, hmac_token({"alg": "HS256", "kid": "hs"}, live(), b"")) \
        == "bad_signature"
    assert reason(target, hmac_token({"alg": "HS256"}, live(), b"")) == "bad_signature"


P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def ecdsa_variants():
    import jwt
    good = jwt.encode(live(), key_text("p256.key"), algorithm="ES256", headers={"kid": "es"})
    head, sig = good.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    r, s = raw[:32], raw[32:]
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    return good, {
        "64 zero bytes": bytes(64),
        "r = n": P256_N.to_bytes(32, "big") + s,
        "s = n": r + P256_N.to_bytes(32, "big"),
        "r = 0": bytes(32) + s,
        "DER encoding": der,
        "one byte too many": raw + b"\0",
        "one byte too few": raw[:-1],
    }, head


def test_broken_ecdsa_signatures(target):
    good, variants, head = ecdsa_variants()
    assert reason(target, good) == "accepted"
    for name, sig in variants.items():
        assert reason(target, f"{head}.{b64(sig)}") == "bad_signature", name


def test_error_priority_bad_signature_before_expiry(target):
    expired = live(exp=1000)
    assert reason(target, hmac_token({"alg": "HS256", "kid": "hs"}, expired, b"x" * 32)) \
        == "bad_signature"
    assert reason(target, hmac_token({"alg": "HS256", "kid": "hs"}, expired, HS_SECRET)) \
        == "expired"


@pytest.mark.parametrize("encoding", ["SQL_ASCII", "LATIN1"])
def test_a_database_that_is_not_utf8_is_refused(cluster, encoding):
    """Tokens are UTF-8; in a database of another encoding a revoked jti or sub is stored with
    other bytes and could fail to match (or, as 0.1.0 did, make every check fail with an
    internal error). CREATE EXTENSION refuses such a database; where 0.1.0 was installed, every
    check and the update refuse with the same clear error, and nothing is accepted."""
    name = f"enc_{encoding.lower()}"
    cluster.sql(f"CREATE DATABASE {name} ENCODING '{encoding}' TEMPLATE template0 "
                "LC_COLLATE 'C' LC_CTYPE 'C'")
    try:
        with cluster.connect(name) as conn:
            with pytest.raises(psycopg.errors.FeatureNotSupported) as caught:
                conn.execute("CREATE EXTENSION revocation")
            assert caught.value.diag.message_primary == \
                "revocation needs a database with UTF8 encoding"
            assert caught.value.diag.message_detail == \
                f"This database's encoding is {encoding}."
            assert conn.execute("SELECT count(*) FROM pg_namespace "
                                "WHERE nspname = 'revocation'").fetchone() == (0,)

            conn.execute("CREATE EXTENSION revocation VERSION '0.1.0'")
            good = hmac_token({"alg": "HS256", "kid": "hs"}, live(), HS_SECRET)
            calls = [
                ("SELECT revocation.jwt_verify(%s)", (good,)),
                ("SELECT revocation.jwt_verify(E'\\xff' || %s, 'db')", (good,)),
                ("SELECT * FROM revocation.jwt_check(%s)", (good,)),
                ("SELECT * FROM revocation.jwt_check(E'\\xff' || %s)", (good,)),
                ("SELECT revocation.jwt_add_key('hs', 'HS256', secret => %s)", (HS_SECRET,)),
                ("SELECT revocation.jwt_sign('{}')", ()),
                ("SELECT revocation.jwt_revoke('j')", ()),
                ("SELECT revocation.jwt_revoke_subject('s')", ()),
                ("SELECT revocation.require_database_claim('x')", ()),
                ("DELETE FROM revocation.invalidated_tokens", ()),
                ("TRUNCATE revocation.invalidated_subjects", ()),
                ("ALTER EXTENSION revocation UPDATE", ()),
            ]
            for query, args in calls:
                with pytest.raises(psycopg.errors.FeatureNotSupported) as caught:
                    conn.execute(query, args)
                assert (caught.value.diag.message_primary, caught.value.diag.message_detail) \
                    == ("revocation needs a database with UTF8 encoding",
                        f"This database's encoding is {encoding}."), query
            assert conn.execute("SELECT extversion = '0.1.0' FROM pg_extension "
                                "WHERE extname = 'revocation'").fetchone() == (True,)
    finally:
        cluster.sql(f"DROP DATABASE {name} WITH (FORCE)")


def test_mutated_tokens_through_the_sql_entry_points(target):
    """Thousands of mutations of a valid token, through jwt_verify (which raises) and jwt_check
    (which reports): each one is refused with one of our SQLSTATEs, never an internal error,
    none but the original is accepted, and the backend survives them all."""
    import random
    rng = random.Random(7515)
    original = hmac_token({"alg": "HS256", "kid": "hs"}, live(), HS_SECRET)
    alphabet = "AZaz09-_.={}[]\":,\\ \u00e9\u0000"
    mutants = set()
    while len(mutants) < 3000:
        chars = list(original)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(chars) + 1)
            op = rng.randrange(3)
            if op == 0 and at < len(chars):
                chars[at] = rng.choice(alphabet)
            elif op == 1:
                chars.insert(at, rng.choice(alphabet))
            elif chars:
                del chars[min(at, len(chars) - 1)]
        mutant = "".join(chars).replace("\u0000", "")   # text cannot hold NUL
        if mutant != original:
            mutants.add(mutant)
    mutants = sorted(mutants)
    with target.connect() as conn:
        pid, started = conn.execute(
            "SELECT pg_backend_pid(), pg_postmaster_start_time()").fetchone()
        conn.execute("""
            CREATE FUNCTION pg_temp.verdicts(tokens text[]) RETURNS SETOF text
            LANGUAGE plpgsql AS $$
            DECLARE t text;
            BEGIN
                FOREACH t IN ARRAY tokens LOOP
                    BEGIN
                        PERFORM revocation.jwt_verify(t);
                        RETURN NEXT 'accepted';
                    EXCEPTION WHEN OTHERS THEN
                        RETURN NEXT SQLSTATE;
                    END;
                END LOOP;
            END $$""")
        raised = [r[0] for r in conn.execute("SELECT pg_temp.verdicts(%s)", (mutants,))]
        reported = conn.execute(
            "SELECT c.active, c.sqlstate FROM unnest(%s::text[]) WITH ORDINALITY AS m(t, n), "
            "revocation.jwt_check(m.t) AS c ORDER BY m.n", (mutants,)).fetchall()
        assert len(raised) == len(reported) == len(mutants)
        ours = {f"28J{n:02d}" for n in range(1, 16)}
        assert set(raised) <= ours, set(raised) - ours
        # The mutations reach past the shape checks: to the key lookup and the signature.
        assert {"28J01", "28J04", "28J06"} <= set(raised)
        assert all(not active and code in ours for active, code in reported)
        # The two entry points agree on every one.
        assert raised == [code for _, code in reported]
        assert conn.execute("SELECT pg_backend_pid(), pg_postmaster_start_time()").fetchone() \
            == (pid, started)
        assert conn.execute("SELECT active FROM revocation.jwt_check(%s)",
                            (original,)).fetchone() == (True,)
