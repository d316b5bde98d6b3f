"""What writing many revocations in one transaction costs, as a restore or a bulk revocation
does, side by side with one counter update per row (how 0.1.0 numbered rows), in one run.

- ours: INSERT ... SELECT of N rows into revocation.invalidated_tokens, through its triggers;
  the transaction takes one generation number for all of them;
- per row: the same rows into a copy of the table whose trigger updates a one-row counter for
  every row, as 0.1.0's trigger did (so the counter row gets N versions in one transaction);
- a pg_dump and pg_restore of the largest table, into a fresh database.
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from pgcluster import PG_BIN, Cluster, _as_postgres  # noqa: E402

PER_ROW = """
CREATE TABLE per_row_counter (n bigint NOT NULL);
INSERT INTO per_row_counter VALUES (0);
CREATE TABLE per_row (LIKE revocation.invalidated_tokens INCLUDING ALL);
CREATE FUNCTION per_row_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE per_row_counter SET n = n + 1 RETURNING n INTO NEW.seq;
    RETURN NEW;
END $$;
CREATE TRIGGER stamp BEFORE INSERT ON per_row FOR EACH ROW EXECUTE FUNCTION per_row_stamp();
"""


def timed(conn, query, *args):
    started = time.perf_counter()
    conn.execute(query, args)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5000,10000,20000,40000")
    parser.add_argument("--restore-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    cluster = Cluster(name="revocation-bench", conf={"shared_buffers": "'512MB'"}).init()
    try:
        cluster.start()
        conn = cluster.connect()
        conn.execute("CREATE EXTENSION revocation")
        conn.execute(PER_ROW)
        print("| rows in one transaction | ours (s) | one counter update per row (s) "
              "| per row / ours |")
        print("| ---: | ---: | ---: | ---: |")
        for n in sizes:
            ours = timed(conn, "INSERT INTO revocation.invalidated_tokens (jti) "
                               "SELECT 'bulk-' || %s || '-' || i FROM generate_series(1, %s) i",
                         n, n)
            per_row = timed(conn, "INSERT INTO per_row (jti) "
                                  "SELECT 'bulk-' || %s || '-' || i FROM generate_series(1, %s) i",
                            n, n)
            print(f"| {n} | {ours:.2f} | {per_row:.2f} | {per_row / ours:.1f}x |")
        conn.execute("TRUNCATE revocation.invalidated_tokens")
        conn.execute("DROP TABLE per_row")

        n = args.restore_rows
        written = timed(conn, "INSERT INTO revocation.invalidated_tokens (jti, expires_at) "
                              "SELECT 'r-' || i, now() + interval '1 day' "
                              "FROM generate_series(1, %s) i", n)
        dump = os.path.join(cluster.dir, "big.pgc")
        started = time.perf_counter()
        _as_postgres([f"{PG_BIN}/pg_dump", "-h", cluster.dir, "-U", "postgres", "-Fc",
                      "-f", dump, "postgres"])
        dumped = time.perf_counter() - started
        cluster.sql("CREATE DATABASE restored")
        started = time.perf_counter()
        _as_postgres([f"{PG_BIN}/pg_restore", "-h", cluster.dir, "-U", "postgres",
                      "-d", "restored", "--exit-on-error", dump])
        restored = time.perf_counter() - started
        with cluster.connect("restored") as r:
            count = r.execute("SELECT count(*) FROM revocation.invalidated_tokens").fetchone()[0]
            held = r.execute("SELECT revoked_jtis FROM revocation.cache_stats()").fetchone()[0]
        assert count == n and held == n, (count, held)
        print()
        print(f"| {n} revocations | seconds |")
        print("| --- | ---: |")
        print(f"| written in one INSERT | {written:.1f} |")
        print(f"| pg_dump -Fc | {dumped:.1f} |")
        print(f"| pg_restore into a fresh database (every row through the triggers) "
              f"| {restored:.1f} |")
        conn.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
