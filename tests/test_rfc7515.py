"""The example tokens of RFC 7515 appendix A.1 (HS256) and A.2 (RS256), with the keys published
there, verify as of a time when they were valid, and are expired now."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PAYLOAD = ("eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290"
           "Ijp0cnVlfQ")
EXP = 1300819380  # 2011-03-22 18:43:00 UTC
CLAIMS = {"iss": "joe", "exp": EXP, "http://example.com/is_root": True}

A1_KEY = ("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9C"
          "Aow")
A1_TOKEN = ("eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + PAYLOAD +
            ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")

A2_N = ("ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt"
        "0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSX"
        "ndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5"
        "IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ")
A2_TOKEN = ("eyJhbGciOiJSUzI1NiJ9." + PAYLOAD + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr"
            "9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAyn"
            "RFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO"
            "--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt"
            "5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw")


def a2_public_pem():
    n = int.from_bytes(b64url_decode(A2_N), "big")
    key = RSAPublicNumbers(65537, n).public_key()
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def rfc_keys(db):
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
