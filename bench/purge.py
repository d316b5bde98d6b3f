"""What a purge costs the hot path, beside what an ordinary delete costs, in one run.

A database holds ROWS revocations of live tokens, which an open session keeps in memory. Each
round adds EXPIRED rows of tokens that expired 40 days ago, then:

- jwt_purge_revocations() deletes them: how long it takes, and what the open session's next
  check costs (its refresh, timed inside the backend by cache_stats) and whether it reloaded;
- deleting one live revocation (undoing it): the same two figures.

The rounds interleave the two, so both see the same machine.
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from pgcluster import Cluster  # noqa: E402

from verify import TIMER  # noqa: E402


def bulk_insert(conn, rows, prefix, expires):
    """Rows numbered as the trigger would number them, without its per-row cost."""
    start = conn.execute("SELECT generation FROM revocation.generation").fetchone()[0]
    conn.execute("ALTER TABLE revocation.invalidated_tokens DISABLE TRIGGER stamp_revocation")
    conn.execute(f"INSERT INTO revocation.invalidated_tokens (jti, expires_at, revoked_by, seq) "
                 f"SELECT %s || i, {expires}, 'bench', %s + i FROM generate_series(1, %s) i",
                 (prefix, start, rows))
    conn.execute("ALTER TABLE revocation.invalidated_tokens ENABLE TRIGGER stamp_revocation")
    conn.execute("UPDATE revocation.generation SET generation = %s", (start + rows,))


def refresh(reader):
    """The reader's next check, and what its refresh cost: (microseconds, full loads so far)."""
    reader.execute("SELECT revocation._jti_revoked('probe')")
    return reader.execute("SELECT last_refresh_us, full_loads FROM revocation.cache_stats()"
                          ).fetchone()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--expired", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    cluster = Cluster(name="revocation-bench", conf={"shared_buffers": "'512MB'"}).init()
    try:
        cluster.start()
        admin = cluster.connect()
        admin.execute("CREATE EXTENSION revocation")
        admin.execute(TIMER)
        bulk_insert(admin, args.rows, "live-", "NULL")
        admin.execute("VACUUM ANALYZE revocation.invalidated_tokens")
        reader = cluster.connect()
        refresh(reader)

        purge_ms, after_purge, delete_ms, after_delete = [], [], [], []
        reloads_purge = reloads_delete = 0
        for r in range(args.rounds):
            bulk_insert(admin, args.expired, f"old-{r}-", "now() - interval '40 days'")
            _, loads = refresh(reader)
            purge_ms.append(admin.execute(
                "SELECT pg_temp.elapsed_ms('SELECT revocation.jwt_purge_revocations()')"
            ).fetchone()[0])
            us, after = refresh(reader)
            after_purge.append(us)
            reloads_purge += after - loads

            delete_ms.append(admin.execute(
                "SELECT pg_temp.elapsed_ms($q$DELETE FROM revocation.invalidated_tokens "
                f"WHERE jti = 'live-{r + 1}'$q$)").fetchone()[0])
            us, loads_after = refresh(reader)
            after_delete.append(us)
            reloads_delete += loads_after - after
            admin.execute("SELECT revocation.jwt_revoke(%s)", (f"live-{r + 1}",))
            refresh(reader)

        held = reader.execute("SELECT revoked_jtis FROM revocation.cache_stats()").fetchone()[0]
        assert held == args.rows, f"the reader holds {held} entries, expected {args.rows}"
        p = statistics.median(after_purge)
        d = statistics.median(after_delete)
        print(f"{args.rows} live revocations held; each round adds and purges {args.expired} "
              f"rows of long-expired tokens; {args.rounds} rounds, medians")
        print()
        print("| | the statement (ms) | the open session's next refresh (us) | full reloads |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| jwt_purge_revocations() of {args.expired} rows | "
              f"{statistics.median(purge_ms):.0f} | {p:.0f} | {reloads_purge} of {args.rounds} |")
        print(f"| DELETE of one live revocation | {statistics.median(delete_ms):.1f} | "
              f"{d:.0f} | {reloads_delete} of {args.rounds} |")
        print(f"| refresh after the delete / after the purge | | {d / max(p, 1):.0f}x | |")
        reader.close()
        admin.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
