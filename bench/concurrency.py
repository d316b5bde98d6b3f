"""Verification under concurrent revocation, measured side by side in one run.

- Throughput: pgbench, two clients checking random tokens (jwt_check) for a fixed time, once
  alone and once while a third client revokes at a steady rate.
- Correctness: two verifier threads and one revoker thread over real connections; a token
  accepted by a check that started after its revocation's COMMIT returned is a violation.
"""

import argparse
import os
import random
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from pgcluster import PG_BIN, Cluster  # noqa: E402

SECRET = b"0123456789abcdef0123456789abcdef"


def pgbench(cluster, script, clients, seconds, rate=None, tag="x"):
    path = os.path.join(cluster.dir, f"{tag}.sql")
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o644)
    args = [f"{PG_BIN}/pgbench", "-h", cluster.dir, "-U", "postgres", "-n", "-f", path,
            "-c", str(clients), "-j", str(clients), "-T", str(seconds), "bench"]
    if rate:
        args += ["-R", str(rate)]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def tps(proc):
    out, err = proc.communicate()
    for line in out.splitlines():
        if line.startswith("tps ="):
            return float(line.split()[2])
    raise RuntimeError(f"pgbench failed: {err.strip()[-500:]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=50, help="revocations per second")
    args = parser.parse_args()

    cluster = Cluster(name="revocation-bench-conc").init()
    try:
        cluster.start()
        cluster.sql("CREATE DATABASE bench")
        admin = cluster.connect("bench")
        admin.execute("CREATE EXTENSION revocation")
        admin.execute("SELECT revocation.jwt_add_key('k', 'HS256', secret => %s)", (SECRET,))
        admin.execute("CREATE TABLE tok (id int PRIMARY KEY, jti text NOT NULL, t text NOT NULL)")
        admin.execute("INSERT INTO tok SELECT i, 'j-' || i, revocation.jwt_sign("
                      "jsonb_build_object('sub', 'u' || i, 'jti', 'j-' || i)) "
                      "FROM generate_series(1, %s) i", (args.tokens,))
        admin.execute("VACUUM ANALYZE tok")

        verify = (f"\\set i random(1, {args.tokens})\n"
                  "SELECT c.active FROM tok, revocation.jwt_check(tok.t) c WHERE tok.id = :i;\n")
        revoke = (f"\\set i random(1, {args.tokens})\n"
                  "SELECT revocation.jwt_revoke('j-' || :i);\n")
        alone = tps(pgbench(cluster, verify, 2, args.seconds, tag="v1"))
        revoker = pgbench(cluster, revoke, 1, args.seconds, rate=args.rate, tag="r")
        busy = tps(pgbench(cluster, verify, 2, args.seconds, tag="v2"))
        revoked_rate = tps(revoker)
        drop = 1 - busy / alone

        # Correctness over real connections.
        admin.execute("TRUNCATE revocation.invalidated_tokens")
        tokens = dict(admin.execute("SELECT jti, t FROM tok").fetchall())
        jtis = list(tokens)
        committed = {}
        stop = threading.Event()
        accepted_late, checks = [], [0]
        lock = threading.Lock()

        def revoker_thread():
            conn = cluster.connect("bench")
            order = random.Random(1).sample(jtis, len(jtis))
            for jti in order:
                if stop.is_set():
                    break
                conn.execute("SELECT revocation.jwt_revoke(%s)", (jti,))
                committed[jti] = time.monotonic()   # COMMIT (autocommit) has returned
                time.sleep(1 / args.rate)
            conn.close()

        def verifier_thread(seed):
            conn = cluster.connect("bench")
            rng = random.Random(seed)
            recent = []
            while not stop.is_set():
                # Mostly tokens revoked a moment ago: the race that matters.
                jti = (rng.choice(recent) if recent and rng.random() < 0.7
                       else rng.choice(jtis))
                started = time.monotonic()
                active = conn.execute("SELECT active FROM revocation.jwt_check(%s)",
                                      (tokens[jti],)).fetchone()[0]
                revoked_at = committed.get(jti)
                with lock:
                    checks[0] += 1
                    if active and revoked_at is not None and started > revoked_at:
                        accepted_late.append(jti)
                recent = list(committed)[-20:]
            conn.close()

        threads = [threading.Thread(target=revoker_thread)] + \
            [threading.Thread(target=verifier_thread, args=(s,)) for s in (1, 2)]
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()

        print(f"pgbench {args.seconds} s per run, 2 verifying clients, revoker at "
              f"{args.rate}/s (achieved {revoked_rate:.0f}/s)")
        print("| measure | value | target |")
        print("| --- | ---: | --- |")
        print(f"| verification throughput, alone | {alone:.0f} checks/s | |")
        print(f"| verification throughput, with the revoker | {busy:.0f} checks/s | |")
        print(f"| drop | {drop * 100:.1f}% | at most 10% "
              f"({'met' if drop <= 0.10 else 'missed'}) |")
        print(f"| checks over connections / revocations committed | {checks[0]} / "
              f"{len(committed)} | |")
        print(f"| revoked tokens accepted after their COMMIT returned | {len(accepted_late)} | "
              f"0 ({'met' if not accepted_late else 'MISSED'}) |")
        admin.close()
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
