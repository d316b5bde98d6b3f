"""Cost of one revocation.jwt_verify call per algorithm, inside PostgreSQL.

For each algorithm, N distinct tokens (distinct jti, so nothing is constant-folded) are signed
by jwt_sign into a table; then `SELECT count(jwt_verify(t))` and the same scan with
`count(length(t))` run interleaved, several rounds, and the per-call cost is the median
difference divided by N. Run it through bench/run, which installs a release build first.
"""

import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from pgcluster import Cluster  # noqa: E402

KEYS = os.path.join(HERE, "..", "tests", "keys")
ALGS = [  # (alg, private key file, public key file)
    ("HS256", None, None),
    ("RS256", "rsa2048.key", "rsa2048.pub"),
    ("PS256", "rsa2048.key", "rsa2048.pub"),
    ("ES256", "p256.key", "p256.pub"),
    ("ES384", "p384.key", "p384.pub"),
    ("EdDSA", "ed25519.key", "ed25519.pub"),
]

# The baseline a user would otherwise write: HS256 in PL/pgSQL on pgcrypto's hmac(), with the
# same checks that matter (alg, signature, exp) and the claims returned as jsonb.
PLPGSQL_VERIFIER = r"""
CREATE FUNCTION plpgsql_b64url(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT decode(rpad(translate(t, '-_', '+/'),
                       length(t) + (4 - length(t) % 4) % 4, '='), 'base64')
$$;
CREATE FUNCTION plpgsql_verify_hs256(token text, secret bytea) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    parts text[] := string_to_array(token, '.');
    header jsonb;
    claims jsonb;
BEGIN
    IF array_length(parts, 1) <> 3 THEN
        RAISE EXCEPTION 'malformed token';
    END IF;
    header := convert_from(plpgsql_b64url(parts[1]), 'UTF8')::jsonb;
    IF header ->> 'alg' IS DISTINCT FROM 'HS256' THEN
        RAISE EXCEPTION 'algorithm not allowed';
    END IF;
    IF hmac(convert_to(parts[1] || '.' || parts[2], 'UTF8'), secret, 'sha256')
       IS DISTINCT FROM plpgsql_b64url(parts[3]) THEN
        RAISE EXCEPTION 'invalid signature';
    END IF;
    claims := convert_from(plpgsql_b64url(parts[2]), 'UTF8')::jsonb;
    IF (claims ->> 'exp')::float8 <= extract(epoch FROM now()) THEN
        RAISE EXCEPTION 'expired';
    END IF;
    RETURN claims;
END $$;
"""

TIMER = """
CREATE FUNCTION pg_temp.elapsed_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE started timestamptz := clock_timestamp();
BEGIN
    EXECUTE q;
    RETURN extract(epoch FROM clock_timestamp() - started) * 1000;
END $$"""


def read(name):
    with open(os.path.join(KEYS, name)) as f:
        return f.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="also write the per-call costs here")
    args = parser.parse_args()

    cluster = Cluster(name="revocation-bench", conf={"shared_buffers": "'256MB'"}).init()
    try:
        cluster.start()
        conn = cluster.connect()
        conn.execute("CREATE EXTENSION revocation")
        conn.execute(TIMER)
        conn.execute("CREATE EXTENSION pgcrypto")
        conn.execute(PLPGSQL_VERIFIER)
        for alg, private, public in ALGS:
            kid = alg.lower()
            if private is None:
                conn.execute("SELECT revocation.jwt_add_key(%s, %s, secret => %s)",
                             (kid, alg, b"0123456789abcdef0123456789abcdef"))
            else:
                conn.execute("SELECT revocation.jwt_add_key(%s, %s, public_key => %s, "
                             "private_key => %s)", (kid, alg, read(public), read(private)))
            conn.execute(f"CREATE TABLE tok_{kid} AS SELECT revocation.jwt_sign("
                         f"jsonb_build_object('sub', 'user-' || i), %s) AS t "
                         f"FROM generate_series(1, %s) i", (kid, args.tokens))
            conn.execute(f"VACUUM ANALYZE tok_{kid}")

        print(f"tokens per algorithm: {args.tokens}, rounds: {args.rounds}")
        print("| alg | jwt_verify per call (us) | scan alone per row (us) |")
        print("| --- | ---: | ---: |")
        results = {}
        for alg, _, _ in ALGS:
            kid = alg.lower()
            verify, scan = [], []
            conn.execute(f"SELECT count(revocation.jwt_verify(t)) FROM tok_{kid}")  # warm up
            for _ in range(args.rounds):
                verify.append(conn.execute(
                    "SELECT pg_temp.elapsed_ms(%s)",
                    (f"SELECT count(revocation.jwt_verify(t)) FROM tok_{kid}",)).fetchone()[0])
                scan.append(conn.execute(
                    "SELECT pg_temp.elapsed_ms(%s)",
                    (f"SELECT count(length(t)) FROM tok_{kid}",)).fetchone()[0])
            per_call = (statistics.median(verify) - statistics.median(scan)) * 1000 / args.tokens
            per_row = statistics.median(scan) * 1000 / args.tokens
            print(f"| {alg} | {per_call:.2f} | {per_row:.3f} |")
            results[alg] = per_call

        # The PL/pgSQL + pgcrypto verifier on the same HS256 tokens, rounds interleaved with ours.
        ours_q = "SELECT count(revocation.jwt_verify(t)) FROM tok_hs256"
        base_q = ("SELECT count(plpgsql_verify_hs256(t, "
                  "'0123456789abcdef0123456789abcdef'::bytea)) FROM tok_hs256")
        scan_q = "SELECT count(length(t)) FROM tok_hs256"
        conn.execute(base_q)
        ours, base, scan = [], [], []
        for _ in range(args.rounds):
            for series, q in ((ours, ours_q), (base, base_q), (scan, scan_q)):
                series.append(conn.execute("SELECT pg_temp.elapsed_ms(%s)", (q,)).fetchone()[0])
        per = lambda v: (statistics.median(v) - statistics.median(scan)) * 1000 / args.tokens  # noqa: E731
        ours_us, base_us = per(ours), per(base)
        print()
        print("| HS256 verifier | per call (us) | target |")
        print("| --- | ---: | --- |")
        print(f"| revocation.jwt_verify | {ours_us:.2f} | |")
        print(f"| PL/pgSQL + pgcrypto | {base_us:.2f} | |")
        met = "met" if base_us / ours_us >= 15 else "missed"
        print(f"| PL/pgSQL / ours | {base_us / ours_us:.1f}x | at least 15x ({met}) |")
        results["plpgsql_hs256"] = base_us
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f)
        conn.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
