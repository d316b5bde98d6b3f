"""Fixtures for the integration tests: a real PostgreSQL 15 cluster with the extension
installed (by `cargo pgrx install`), and a fresh database per test."""

import itertools
import os
import sys
import time

import jwt
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))

from pgcluster import Cluster  # noqa: E402

KEYS = os.path.join(HERE, "keys")
_counter = itertools.count()


def key_text(name):
    with open(os.path.join(KEYS, name)) as f:
        return f.read()


@pytest.fixture(scope="session")
def cluster():
    c = Cluster(name="revocation-tests").init()
    c.start()
    yield c
    c.destroy()


class Database:
    """One database of the test cluster, with the extension created."""

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name

    def connect(self, user="postgres", autocommit=True):
        return self.cluster.connect(self.name, user=user, autocommit=autocommit)

    def sql(self, query, params=None):
        return self.cluster.sql(query, params, dbname=self.name)

    def one(self, query, params=None):
        return self.sql(query, params)[0][0]


@pytest.fixture
def db(cluster):
    name = f"t{next(_counter)}"
    cluster.sql(f"CREATE DATABASE {name}")
    d = Database(cluster, name)
    d.sql("CREATE EXTENSION revocation")
    yield d
    cluster.sql(f"DROP DATABASE {name} WITH (FORCE)")


HS_SECRET = b"integration-secret-of-32-bytes!!"


def claims(**extra):
    now = int(time.time())
    base = {"sub": "alice", "jti": f"j-{next(_counter)}", "iat": now, "exp": now + 600}
    base.update(extra)
    return base


def pyjwt_token(payload, key, alg, kid=None):
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=alg, headers=headers)
