"""jwt_verify with 1, 3 and 10 (and 100) usable HS256 keys, with and without kid, and the time a
backend takes to pick up a rotation, measured side by side in one run.

Without a kid every usable key of the algorithm is tried; the tokens here are signed with the
key tried last, the worst case.
"""

import argparse
import os

import jwt
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from pgcluster import Cluster  # noqa: E402

from verify import TIMER  # noqa: E402


def secret(i):
    return f"bench-secret-number-{i:04d}-of-32-bytes".encode()[:32].ljust(32, b"!")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    counts = [1, 3, 10, 100]

    cluster = Cluster(name="revocation-bench-keys").init()
    try:
        cluster.start()
        conns = {}
        for n in counts:
            cluster.sql(f"CREATE DATABASE k{n}")
            c = cluster.connect(f"k{n}")
            c.execute("CREATE EXTENSION revocation")
            c.execute(TIMER)
            for i in range(n):
                c.execute("SELECT revocation.jwt_add_key(%s, 'HS256', secret => %s, "
                          "usable_from => now() - interval '1 day')", (f"k{i:03d}", secret(i)))
            last = f"k{n - 1:03d}"   # sorted last, so tried last without a kid
            c.execute("CREATE TABLE with_kid AS SELECT revocation.jwt_sign("
                      "jsonb_build_object('sub', 'u' || i), %s) AS t "
                      "FROM generate_series(1, %s) i", (last, args.tokens))
            conns[n] = c
        for n, c in conns.items():
            # jwt_sign always names its key, so PyJWT makes the tokens without a kid.
            rows = [(jwt.encode({"sub": f"u{i}", "jti": f"j{i}", "exp": 4_000_000_000},
                                secret(n - 1), algorithm="HS256"),) for i in range(args.tokens)]
            c.execute("CREATE TABLE without_kid (t text)")
            with c.cursor() as cur:
                with cur.copy("COPY without_kid (t) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            c.execute("VACUUM ANALYZE with_kid")
            c.execute("VACUUM ANALYZE without_kid")
            c.execute("SELECT count(revocation.jwt_verify(t)) FROM with_kid")
            c.execute("SELECT count(revocation.jwt_verify(t)) FROM without_kid")

        def per_call(c, table):
            v = [c.execute("SELECT pg_temp.elapsed_ms(%s)",
                           (f"SELECT count(revocation.jwt_verify(t)) FROM {table}",)).fetchone()[0]
                 for _ in range(args.rounds)]
            s = [c.execute("SELECT pg_temp.elapsed_ms(%s)",
                           (f"SELECT count(length(t)) FROM {table}",)).fetchone()[0]
                 for _ in range(args.rounds)]
            return (statistics.median(v) - statistics.median(s)) * 1000 / args.tokens

        print(f"tokens: {args.tokens}, rounds: {args.rounds}")
        print("| usable keys | with kid (us) | without kid, last key (us) | key reload (us) |")
        print("| ---: | ---: | ---: | ---: |")
        for n, c in conns.items():
            with_kid, without = per_call(c, "with_kid"), per_call(c, "without_kid")
            reloads = []
            writer = cluster.connect(f"k{n}")
            for i in range(7):
                writer.execute("SELECT revocation.jwt_rotate_key(%s, 'HS256', secret => %s, "
                               "\"window\" => '1 hour')", (f"r{i}", secret(1000 + i)))
                reloads.append(c.execute("SELECT last_key_load_us FROM revocation.cache_stats()"
                                         ).fetchone()[0])
                writer.execute("DELETE FROM revocation.signing_keys WHERE kid = %s", (f"r{i}",))
                c.execute("SELECT revocation.cache_stats()")
            writer.close()
            print(f"| {n} | {with_kid:.2f} | {without:.2f} | {statistics.median(reloads)} |")
        for c in conns.values():
            c.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
