"""The example tokens of RFC 7515 appendix A.1 (HS256) and A.2 (RS256), with the keys published
there, verify as of a time when they were valid, and are expired now."""

import pytest
from rfc7515 import A1_KEY, A1_TOKEN, A2_TOKEN, CLAIMS, EXP, a2_public_pem, b64url_decode


@pytest.fixture
def rfc_keys(db):
    # The examples carry no jti, so this database accepts tokens without one.
    db.sql(f"ALTER DATABASE {db.name} SET revocation.require_jti = off")
    # The keys were in use in 2011, when the examples were made.
    db.sql("SELECT revocation.jwt_add_key('a1', 'HS256', secret => %s, "
           "usable_from => '2011-01-01Z')", (b64url_decode(A1_KEY),))
    db.sql("SELECT revocation.jwt_add_key('a2', 'RS256', public_key => %s, "
           "usable_from => '2011-01-01Z')", (a2_public_pem(),))
    return db


@pytest.mark.parametrize("token,kid", [(A1_TOKEN, "a1"), (A2_TOKEN, "a2")])
def test_valid_as_of_their_time(rfc_keys, token, kid):
    row = rfc_keys.sql(
        "SELECT active, reason, claims, kid FROM revocation.jwt_check(%s, at => to_timestamp(%s))",
        (token, EXP - 60))[0]
    assert row == (True, None, CLAIMS, kid)


@pytest.mark.parametrize("token", [A1_TOKEN, A2_TOKEN])
def test_expired_now_and_just_after_exp(rfc_keys, token):
    assert rfc_keys.sql("SELECT active, reason FROM revocation.jwt_check(%s)", (token,)) \
        == [(False, "expired")]
    # exp plus the 30 second leeway is the first instant it is refused.
    assert rfc_keys.sql(
        "SELECT active, reason FROM revocation.jwt_check(%s, at => to_timestamp(%s))",
        (token, EXP + 30)) == [(False, "expired")]
    assert rfc_keys.one(
        "SELECT active FROM revocation.jwt_check(%s, at => to_timestamp(%s))",
        (token, EXP + 29)) is True


def test_one_changed_byte_breaks_the_signature(rfc_keys):
    tampered = A1_TOKEN.replace("qb2U", "qb2V")
    assert rfc_keys.sql(
        "SELECT active, reason FROM revocation.jwt_check(%s, at => to_timestamp(%s))",
        (tampered, EXP - 60)) == [(False, "bad_signature")]
