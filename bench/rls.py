"""The repeated-token RLS case: one token checked on every row of a ROWS-row table, against the
same query under a constant policy, measured side by side in one run.

Policies compared, each on its own copy of the table, read by an ordinary role:
- constant:   owner = 'alice'
- per row:    owner = revocation.subject()            (the check runs for every row)
- per query:  owner = (SELECT revocation.subject())   (PostgreSQL runs it once)
"""

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from pgcluster import Cluster  # noqa: E402

from verify import TIMER  # noqa: E402

POLICIES = {
    "constant": "owner = 'alice'",
    "per_row": "owner = revocation.subject()",
    "per_query": "owner = (SELECT revocation.subject())",
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    cluster = Cluster(name="revocation-bench-rls", conf={"shared_buffers": "'512MB'",
                                                         "max_parallel_workers_per_gather": "0"})
    cluster.init()
    try:
        cluster.start()
        admin = cluster.connect()
        admin.execute("CREATE EXTENSION revocation")
        admin.execute("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)",
                      (b"0123456789abcdef0123456789abcdef",))
        admin.execute("CREATE ROLE reader LOGIN")
        for name, using in POLICIES.items():
            admin.execute(f"CREATE TABLE docs_{name} (owner text NOT NULL, body text NOT NULL)")
            admin.execute(f"INSERT INTO docs_{name} SELECT CASE WHEN i %% 2 = 0 THEN 'alice' "
                          f"ELSE 'bob' END, 'row ' || i FROM generate_series(1, %s) i",
                          (args.rows,))
            admin.execute(f"ALTER TABLE docs_{name} ENABLE ROW LEVEL SECURITY")
            admin.execute(f"CREATE POLICY p ON docs_{name} USING ({using})")
            admin.execute(f"GRANT SELECT ON docs_{name} TO reader")
            admin.execute(f"VACUUM ANALYZE docs_{name}")
        token = admin.execute("""SELECT revocation.jwt_sign('{"sub":"alice"}')""").fetchone()[0]

        reader = cluster.connect(user="reader")
        reader.execute(TIMER)
        reader.execute("SELECT set_config('request.token', %s, false)", (token,))
        counts = {}
        for name in POLICIES:
            counts[name] = reader.execute(f"SELECT count(*) FROM docs_{name}").fetchone()[0]
        assert len(set(counts.values())) == 1 and counts["constant"] == args.rows // 2, counts
        times = {name: [] for name in POLICIES}
        for _ in range(args.rounds):
            for name in POLICIES:
                times[name].append(reader.execute(
                    "SELECT pg_temp.elapsed_ms(%s)",
                    (f"SELECT count(*) FROM docs_{name}",)).fetchone()[0])
        med = {name: statistics.median(v) for name, v in times.items()}
        print(f"rows: {args.rows}, visible: {counts['constant']}, rounds: {args.rounds}")
        print("| policy | query time (ms) | ratio to constant | target |")
        print("| --- | ---: | ---: | --- |")
        for name, using in POLICIES.items():
            target = "at most 3" if name == "per_row" else ""
            print(f"| `{using}` | {med[name]:.1f} | {med[name] / med['constant']:.2f} | {target} |")
        per_call = (med["per_row"] - med["constant"]) * 1000 / args.rows
        print(f"\nsubject() per row, cached verdict: {per_call:.3f} us")
        reader.close()
        admin.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
