"""The revocation demo scenario, step by step, on a throwaway cluster.

An application table guarded by a row-level-security policy that trusts only a token verified
by revocation.jwt_verify. Tokens come from jwt_sign and from PyJWT, with keys made by openssl.
"""

import os
import subprocess
import sys
import time

import jwt
import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgcluster import Cluster  # noqa: E402
import rfc7515  # noqa: E402


def step(text):
    print(f"\n== {text}")


def show(label, value):
    print(f"   {label:<44} {value}")


def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True,
                          input=stdin).stdout


def make_keys():
    keys = {"HS256": {"secret": openssl("rand", "32")}}
    for alg, genpkey in [
        ("RS256", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
        ("ES256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        ("EdDSA", ["-algorithm", "ED25519"]),
    ]:
        private = openssl("genpkey", *genpkey)
        public = openssl("pkey", "-pubout", stdin=private)
        keys[alg] = {"private": private.decode(), "public": public.decode()}
    return keys


def outcome(conn, token):
    """The application query with `token`: the rows it sees, or what the client is told."""
    conn.execute("SELECT set_config('app.token', %s, false)", (token,))
    try:
        return [r[0] for r in conn.execute("SELECT body FROM app.notes ORDER BY body")]
    except psycopg.Error as e:
        return f"refused, SQLSTATE {e.sqlstate}: {e.diag.message_primary}"


def main():
    cluster = Cluster(name="revocation-demo").init()
    try:
        cluster.start()
        run(cluster)
    finally:
        cluster.destroy()
        print(f"\n== cluster stopped and {cluster.dir} removed")


def run(cluster):
    step(f"a throwaway PostgreSQL 15 cluster on a Unix socket in {cluster.dir}")
    admin = cluster.connect()
    admin.execute("CREATE EXTENSION revocation")
    show("extension version", admin.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'revocation'").fetchone()[0])

    step("signing keys made by openssl, added with jwt_add_key (each is checked first)")
    keys = make_keys()
    # hs-1 has been in use since yesterday, so jwt_check can also judge a token of an hour ago.
    admin.execute("SELECT revocation.jwt_add_key('hs-1', 'HS256', secret => %s, "
                  "usable_from => now() - interval '1 day')", (keys["HS256"]["secret"],))
    for alg, kid in [("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")]:
        admin.execute("SELECT revocation.jwt_add_key(%s, %s, public_key => %s, private_key => %s)",
                      (kid, alg, keys[alg]["public"], keys[alg]["private"]))
    for kid, alg, can_sign in admin.execute(
            "SELECT kid, alg, can_sign FROM revocation.keys ORDER BY kid"):
        show(f"key {kid}", f"{alg}, can sign: {can_sign}")
    for label, sql, params in [
        ("a 16-byte HS256 secret", "SELECT revocation.jwt_add_key('weak', 'HS256', secret => %s)",
         (b"0123456789abcdef",)),
        ("an EC P-256 key offered for ES384",
         "SELECT revocation.jwt_add_key('bad', 'ES384', public_key => %s)",
         (keys["ES256"]["public"],)),
    ]:
        try:
            admin.execute(sql, params)
            show(label, "stored?!")
        except psycopg.Error as e:
            show(label, f"refused: {e.diag.message_primary}")

    step("the application: notes, one policy, a role that logs in without owning anything")
    admin.execute("CREATE ROLE app_user LOGIN")
    admin.execute("CREATE SCHEMA app")
    admin.execute("CREATE TABLE app.notes (owner text NOT NULL, body text NOT NULL)")
    admin.execute("""INSERT INTO app.notes VALUES
        ('alice', 'alice: buy milk'), ('alice', 'alice: call mum'), ('bob', 'bob: fix bike')""")
    admin.execute("ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY")
    policy = ("owner = (SELECT revocation.jwt_verify(current_setting('app.token', true))"
              "->>'sub')")
    admin.execute(f"CREATE POLICY by_token ON app.notes USING ({policy})")
    admin.execute("GRANT USAGE ON SCHEMA app TO app_user")
    admin.execute("GRANT SELECT ON app.notes TO app_user")
    show("policy", policy)

    step("tokens: alice's from jwt_sign (HS256), bob's from PyJWT (RS256, ES256, EdDSA)")
    alice = admin.execute("""SELECT revocation.jwt_sign('{"sub":"alice"}', 'hs-1')""").fetchone()[0]
    now = int(time.time())
    bob = {alg: jwt.encode({"sub": "bob", "jti": f"bob-{alg}", "iat": now, "exp": now + 600},
                           keys[alg]["private"], algorithm=alg, headers={"kid": kid})
           for alg, kid in [("RS256", "rsa-1"), ("ES256", "ec-1"), ("EdDSA", "ed-1")]}
    header = jwt.get_unverified_header(alice)
    show("alice's token header", header)

    app = cluster.connect(user="app_user")
    step("each user sees only their own rows")
    for who, token in [("alice (jwt_sign, HS256)", alice)] + \
            [(f"bob (PyJWT, {alg})", t) for alg, t in bob.items()]:
        app.execute("SELECT set_config('app.token', %s, false)", (token,))
        rows = [r[0] for r in app.execute("SELECT body FROM app.notes ORDER BY body")]
        show(who, rows)
    with cluster.connect(user="app_user") as fresh:
        show("no token set (NULL)", [r[0] for r in fresh.execute("SELECT body FROM app.notes")])

    step("bad tokens are refused, each with its own reason")
    forged = jwt.encode({"sub": "alice", "exp": now + 600}, b"guessed-secret-guessed-secret-32",
                        algorithm="HS256", headers={"kid": "hs-1"})
    expired = jwt.encode({"sub": "alice", "jti": "old-1", "iat": now - 7200, "exp": now - 3600},
                         keys["HS256"]["secret"], algorithm="HS256", headers={"kid": "hs-1"})
    other_key = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
    wrong_key = jwt.encode({"sub": "bob", "exp": now + 600}, other_key.decode(),
                           algorithm="RS256", headers={"kid": "rsa-1"})
    unsigned = jwt.encode({"sub": "alice", "exp": now + 600}, None, algorithm="none")
    for label, token in [("forged (HS256, guessed secret)", forged),
                         ("expired an hour ago", expired),
                         ("signed with another RSA key", wrong_key),
                         ("alg none", unsigned),
                         ("an empty string", "")]:
        show(label, outcome(app, token))

    step("revocation: bob's RS256 token is revoked while his session is open")
    app.execute("SELECT set_config('app.token', %s, false)", (bob["RS256"],))
    show("bob, before", [r[0] for r in app.execute("SELECT body FROM app.notes")])
    revoked_at = admin.execute("SELECT revocation.jwt_revoke('bob-RS256', 'laptop stolen')"
                               ).fetchone()[0]
    show("jwt_revoke('bob-RS256') returned", revoked_at)
    show("bob, same session, next query", outcome(app, bob["RS256"]))
    show("bob's ES256 token (another jti)", outcome(app, bob["ES256"]))
    admin.execute("SELECT revocation.jwt_revoke_subject('alice')")
    show("alice after jwt_revoke_subject('alice')", outcome(app, alice))
    stats = admin.execute("SELECT generation, revoked_jtis, revoked_subjects, refreshes "
                          "FROM revocation.cache_stats()").fetchone()
    show("admin backend: generation, jtis, subjects, refreshes", stats)

    step("jwt_check: the verdict as a row, and as of a past time")
    for label, token, at in [("expired token, now", expired, None),
                             ("expired token, 90 minutes ago", expired, now - 5400)]:
        active, reason, sqlstate = admin.execute(
            "SELECT active, reason, sqlstate FROM revocation.jwt_check(%s, at => to_timestamp(%s))",
            (token, at)).fetchone()
        show(label, f"active={active} reason={reason} sqlstate={sqlstate}")

    step("RFC 7515 appendix A.1 (HS256) and A.2 (RS256), with the published keys")
    admin.execute("SELECT revocation.jwt_add_key('rfc-a1', 'HS256', secret => %s, "
                  "usable_from => '2011-01-01Z')", (rfc7515.b64url_decode(rfc7515.A1_KEY),))
    admin.execute("SELECT revocation.jwt_add_key('rfc-a2', 'RS256', public_key => %s, "
                  "usable_from => '2011-01-01Z')", (rfc7515.a2_public_pem(),))
    # The examples carry no jti; by default such a token is refused, since it cannot be revoked.
    show("A.1 as of 2011, by default", admin.execute(
        "SELECT reason FROM revocation.jwt_check(%s, at => to_timestamp(%s))",
        (rfc7515.A1_TOKEN, rfc7515.EXP - 60)).fetchone()[0])
    admin.execute("SET revocation.require_jti = off")
    show("", "SET revocation.require_jti = off")
    for label, token in [("A.1", rfc7515.A1_TOKEN), ("A.2", rfc7515.A2_TOKEN)]:
        then = admin.execute(
            "SELECT active, claims FROM revocation.jwt_check(%s, at => to_timestamp(%s))",
            (token, rfc7515.EXP - 60)).fetchone()
        today = admin.execute("SELECT reason FROM revocation.jwt_check(%s)", (token,)).fetchone()
        show(f"{label} as of 2011-03-22 18:42Z", f"active={then[0]} claims={then[1]}")
        show(f"{label} today", f"active=False reason={today[0]}")
    app.close()
    admin.close()


if __name__ == "__main__":
    main()
