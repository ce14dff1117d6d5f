"""Errors from Docker, Redis and PostgreSQL reach the operator as one clear line, and a slot the
Docker API stopped half-way through creating is removed."""
import json
import socket

import docker
import pytest

from conftest import selfops
from lab import PORT_BASE, SERVICES, STATE_FILE, run_module

pytestmark = pytest.mark.integration


def slot_containers(slot):
    return sorted(c.name for c in docker.from_env().containers.list(
        all=True, filters={"label": f"org.selfology.slot={slot}"}))


def test_a_docker_error_half_way_through_a_deploy_removes_what_it_created(lab):
    selfops("cleanup", "-q", "--force", "--reason", "test setup", "-e", "bluegreen_retention=0")
    before = json.loads(STATE_FILE.read_text())
    target = "green" if before["active"] == "blue" else "blue"
    # A version the active slot does not run (a deploy of the running one has nothing to do).
    version = "2.0.1" if before["versions"][before["active"]] == "2.0.0" else "2.0.0"
    selfops("lab", "image", version, "-q")
    assert slot_containers(target) == [], "the lab starts with one slot"
    # Something else holds the relay's host port: Docker creates the other containers, then
    # refuses to start this one.
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        relay = next(s for s in SERVICES if s["name"] == "outbox-relay")
        squatter.bind(("127.0.0.1", PORT_BASE[target] + relay["port"]))
        squatter.listen()
        proc = selfops("deploy", version, check=False)
    assert proc.returncode == 1, proc.stdout
    assert f"slot {target} could not be started: Docker error (APIError)" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert slot_containers(target) == [], "no half-created slot is left behind"
    assert json.loads(STATE_FILE.read_text()) == before


def test_an_unreachable_redis_is_one_clear_line(lab):
    result = run_module("selfology.ops.stream_info", dict(redis_host="127.0.0.1", redis_port=1))
    assert result["failed"]
    assert "Redis" in result["msg"] and "Connection refused" in result["msg"], result["msg"]
    assert "Traceback" not in result.get("module_stderr", "") + result.get("exception", "")
