import os
import subprocess
import sys

import psycopg
import pytest
import redis

from lab import PG, REDIS, ROOT, bot_api_stand_in, pg_dsn

sys.path.insert(0, str(ROOT / ".collections"))


def selfops(*args, check=True):
    """Runs the selfops command as an operator would; returns the completed process."""
    proc = subprocess.run([sys.executable, "-m", "selfops.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"selfops {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def lab():
    """The lab, brought up once per test run (idempotent, tolerates leftovers) and removed at the
    end unless SELFOPS_KEEP_LAB=1."""
    selfops("lab", "up", "-q")
    yield
    if os.environ.get("SELFOPS_KEEP_LAB") != "1":
        selfops("lab", "down", "-q", check=False)


@pytest.fixture
def pg(lab):
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture
def rdb(lab):
    client = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"], decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def pg_params():
    return dict(PG)


@pytest.fixture
def redis_params():
    return dict(REDIS)


@pytest.fixture
def bot_api():
    with bot_api_stand_in() as server:
        yield server


@pytest.fixture(scope="session")
def prometheus_url(lab):
    """The lab's Prometheus (SELFOLOGY_TEST_PROMETHEUS_URL points the module tests at another one)."""
    return os.environ.get("SELFOLOGY_TEST_PROMETHEUS_URL") or "http://127.0.0.1:9090"


@pytest.fixture(scope="session")
def alertmanager_url(lab):
    """The lab's Alertmanager (SELFOLOGY_TEST_ALERTMANAGER_URL points the module tests at another one)."""
    return os.environ.get("SELFOLOGY_TEST_ALERTMANAGER_URL") or "http://127.0.0.1:9093"
