"""Cost of one revocation.jwt_verify call per algorithm, inside PostgreSQL.

For each algorithm, N distinct tokens (distinct jti, so nothing is constant-folded) are signed
by jwt_sign into a table; then `SELECT count(jwt_verify(t))` and the same scan with
`count(length(t))` run interleaved, several rounds, and the per-call cost is the median
difference divided by N. Run it through bench/run, which installs a release build first.
"""

import argparse
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
    args = parser.parse_args()

    cluster = Cluster(name="revocation-bench", conf={"shared_buffers": "'256MB'"}).init()
    try:
        cluster.start()
        conn = cluster.connect()
        conn.execute("CREATE EXTENSION revocation")
        conn.execute(TIMER)
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
        conn.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
