"""What revocation costs a verification, measured side by side in one run.

- jwt_verify (HS256) in a database with no revoked rows and in one with ROWS revoked rows, the
  same distinct tokens, rounds interleaved;
- the revocation check alone: ours (the in-memory set, `_jti_revoked`) against the naive one, a
  PL/pgSQL EXISTS on the indexed table;
- the refresh after one new revocation with ROWS rows present, and the first (full) load;
- memory held per revoked jti.
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from pgcluster import Cluster  # noqa: E402

from verify import TIMER  # noqa: E402

SECRET = b"0123456789abcdef0123456789abcdef"
NAIVE = """
CREATE FUNCTION naive_is_revoked(j text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM revocation.invalidated_tokens WHERE jti = j);
END $$"""


def setup_db(cluster, name, rows, tokens):
    cluster.sql(f"CREATE DATABASE {name}")
    conn = cluster.connect(name)
    conn.execute("CREATE EXTENSION revocation")
    conn.execute(TIMER)
    conn.execute(NAIVE)
    conn.execute("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (SECRET,))
    if rows:
        # Bulk load without the per-row trigger, numbering rows as the trigger would.
        conn.execute("ALTER TABLE revocation.invalidated_tokens DISABLE TRIGGER stamp_revocation")
        conn.execute("INSERT INTO revocation.invalidated_tokens (jti, revoked_by, seq) "
                     "SELECT 'revoked-' || i, 'bench', i FROM generate_series(1, %s) i", (rows,))
        conn.execute("ALTER TABLE revocation.invalidated_tokens ENABLE TRIGGER stamp_revocation")
        conn.execute("UPDATE revocation.generation SET generation = %s", (rows,))
    conn.execute("CREATE TABLE tok AS SELECT revocation.jwt_sign(jsonb_build_object("
                 "'sub', 'user-' || i, 'jti', 'live-' || i)) AS t, 'live-' || i AS jti "
                 "FROM generate_series(1, %s) i", (tokens,))
    conn.execute("VACUUM ANALYZE tok")
    conn.execute("VACUUM ANALYZE revocation.invalidated_tokens")
    return conn


def timed(conn, query):
    return conn.execute("SELECT pg_temp.elapsed_ms(%s)", (query,)).fetchone()[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    cluster = Cluster(name="revocation-bench", conf={"shared_buffers": "'512MB'"}).init()
    try:
        cluster.start()
        empty = setup_db(cluster, "empty", 0, args.tokens)
        full = setup_db(cluster, "many", args.rows, args.tokens)

        # The first call in the full database loads every row.
        full.execute("SELECT revocation._jti_revoked('x')")
        first = full.execute("SELECT revoked_jtis, revoked_bytes, last_refresh_us, full_loads "
                             "FROM revocation.cache_stats()").fetchone()
        empty.execute("SELECT revocation._jti_revoked('x')")

        n = args.tokens
        verify_q = "SELECT count(revocation.jwt_verify(t)) FROM tok"
        scan_q = "SELECT count(length(t)) FROM tok"
        ours_q = "SELECT count(*) FILTER (WHERE revocation._jti_revoked(jti)) FROM tok"
        naive_q = "SELECT count(*) FILTER (WHERE naive_is_revoked(jti)) FROM tok"
        jti_scan_q = "SELECT count(length(jti)) FROM tok"
        for conn in (empty, full):
            conn.execute(verify_q)
            conn.execute(naive_q)
        series = {k: [] for k in ["v0", "v1", "s0", "s1", "ours", "naive", "jscan"]}
        for _ in range(args.rounds):
            series["v0"].append(timed(empty, verify_q))
            series["v1"].append(timed(full, verify_q))
            series["s0"].append(timed(empty, scan_q))
            series["s1"].append(timed(full, scan_q))
            series["ours"].append(timed(full, ours_q))
            series["naive"].append(timed(full, naive_q))
            series["jscan"].append(timed(full, jti_scan_q))
        med = {k: statistics.median(v) for k, v in series.items()}
        per = lambda ms: ms * 1000 / n  # noqa: E731
        v0 = per(med["v0"] - med["s0"])
        v1 = per(med["v1"] - med["s1"])
        ours = per(med["ours"] - med["jscan"])
        naive = per(med["naive"] - med["jscan"])

        refresh = []
        other = cluster.connect("many")
        for i in range(11):
            other.execute("SELECT revocation.jwt_revoke(%s)", (f"extra-{i}",))
            refresh.append(full.execute("SELECT last_refresh_us, full_loads "
                                        "FROM revocation.cache_stats()").fetchone())
        assert all(r[1] == first[3] for r in refresh), "a refresh fell back to a full load"

        print(f"revoked rows: {args.rows}, distinct tokens: {n}, rounds: {args.rounds}")
        print("| measure | value | target |")
        print("| --- | ---: | --- |")
        print(f"| jwt_verify HS256, 0 revoked rows | {v0:.2f} us | |")
        print(f"| jwt_verify HS256, {args.rows} revoked rows | {v1:.2f} us | |")
        print(f"| ratio | {v1 / v0:.3f} | at most 1.05 |")
        print(f"| revocation check, ours (in memory) | {ours:.3f} us | |")
        print(f"| revocation check, naive PL/pgSQL EXISTS | {naive:.3f} us | |")
        print(f"| naive / ours | {naive / ours:.1f}x | at least 20x |")
        print(f"| refresh after one new revocation (median of 11) | "
              f"{statistics.median(r[0] for r in refresh)} us | at most 1000 us |")
        print(f"| first full load of {first[0]} rows | {first[2] / 1000:.0f} ms | |")
        print(f"| memory per held jti | {first[1] / first[0]:.1f} bytes | at most 64 |")
        for c in (empty, full, other):
            c.close()

        # How the refresh after one new revocation grows with the table.
        print()
        print("| revoked rows present | refresh after one new revocation (us, median of 7) |")
        print("| ---: | ---: |")
        for size in (10_000, 100_000, args.rows):
            name = f"size{size}"
            conn = setup_db(cluster, name, size, 1)
            conn.execute("SELECT revocation._jti_revoked('x')")
            writer = cluster.connect(name)
            times = []
            for i in range(7):
                writer.execute("SELECT revocation.jwt_revoke(%s)", (f"more-{i}",))
                times.append(conn.execute("SELECT last_refresh_us FROM revocation.cache_stats()"
                                          ).fetchone()[0])
            print(f"| {size} | {statistics.median(times)} |")
            writer.close()
            conn.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
