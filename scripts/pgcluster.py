"""Throwaway PostgreSQL 15 clusters for the demo and the integration tests.

Each cluster lives in its own temporary directory, runs as the `postgres` user (PostgreSQL
refuses to run as root), and listens only on a Unix socket in that directory: no TCP port, so
clusters never collide and nothing is reachable from outside the machine.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time

import psycopg

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


# A server started from a developer's shell would inherit these, and pgrx would then put Rust
# backtraces into error details.
_SERVER_ENV = {k: v for k, v in os.environ.items()
               if k not in ("RUST_BACKTRACE", "RUST_LIB_BACKTRACE")}


def _as_postgres(args, **kwargs):
    """Runs a server binary as the postgres user when we are root, as ourselves otherwise."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, check=True, capture_output=True, text=True, env=_SERVER_ENV,
                          **kwargs)


class Cluster:
    def __init__(self, conf=None, name="revocation"):
        self.dir = tempfile.mkdtemp(prefix=f"{name}-")
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.dir, pg.pw_uid, pg.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.conf = dict(conf or {})
        self.running = False

    # -- life cycle ------------------------------------------------------------------------

    def init(self):
        _as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                      "--no-sync", "-E", "UTF8", "--locale=C"])
        self.write_conf(self.conf)
        return self

    def write_conf(self, settings):
        base = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.dir}'",
            "fsync": "off",
            "max_connections": "30",
        }
        base.update(settings)
        with open(os.path.join(self.data, "postgresql.auto.conf"), "a") as f:
            for key, value in base.items():
                f.write(f"{key} = {value}\n")

    def start(self, check=True):
        """Starts the server; with check=False returns the CompletedProcess of a failed start."""
        args = [f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "30", "start"]
        if check:
            _as_postgres(args)
            self.running = True
            return None
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--"] + args
        done = subprocess.run(args, capture_output=True, text=True, env=_SERVER_ENV)
        self.running = done.returncode == 0
        return done

    def stop(self, mode="fast"):
        if self.running:
            _as_postgres([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"])
            self.running = False

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # -- connections -----------------------------------------------------------------------

    def connect(self, dbname="postgres", user="postgres", autocommit=True):
        return psycopg.connect(host=self.dir, dbname=dbname, user=user, autocommit=autocommit)

    def sql(self, query, params=None, dbname="postgres"):
        """Runs one statement in a fresh autocommit connection; returns all rows, if any."""
        with self.connect(dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None


def wait_for(predicate, timeout=10.0, interval=0.05):
    """Polls predicate until it is true; for waiting on replication, never for timing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
