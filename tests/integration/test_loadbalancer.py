"""The HAProxy load balancer against the lab: a refused configuration keeps serving, a restart
comes back on the active slot, check mode sends nothing, and drift in its live state is reported."""
import json
import time
import urllib.request

import docker
import pytest

from ansible_collections.selfology.ops.plugins.module_utils import loadbalancer
from conftest import selfops
from lab import LB_URL, SERVICES, STATE_FILE, run_module, wait_for

pytestmark = pytest.mark.integration
LB_DIR = STATE_FILE.parent / "lb"
MAP = "/etc/selfology-lb/slot.map"
LB_SERVICES = [s["name"] for s in SERVICES if "lb_path" in s]


def active():
    return json.loads(STATE_FILE.read_text())["active"]


def served_by():
    with urllib.request.urlopen(f"{LB_URL}/api/questions/next/0", timeout=5) as response:
        return json.loads(response.read())["served_by"]["slot"]


def live_slot():
    with loadbalancer.AdminSocket(str(LB_DIR / loadbalancer.SOCKET)) as admin:
        return loadbalancer.live_slot(admin, MAP)


def drift():
    return json.loads(selfops("status", "--json", check=False).stdout)["hosts"]["localhost"]["drift"]


def test_a_configuration_haproxy_refuses_changes_nothing_and_the_old_one_keeps_serving(lab):
    before = (LB_DIR / loadbalancer.CONFIG).read_text()
    broken = before.replace("balance roundrobin", "balance no-such-algorithm", 1)
    result = run_module("selfology.ops.lb_config", {"content": broken, "config_dir": str(LB_DIR), "reload": True})
    assert result["failed"]
    assert "haproxy -c refused" in result["msg"] and "balance only supports" in result["msg"]
    assert (LB_DIR / loadbalancer.CONFIG).read_text() == before
    assert served_by() == active()


def route(slot, check):
    return run_module("selfology.ops.lb_route", {
        "slot": slot, "services": LB_SERVICES, "config_dir": str(LB_DIR), "network": "selfology-net"}, check=check)


def test_check_mode_says_what_would_move_and_sends_nothing(lab):
    assert route(active(), check=True)["commands"] == [], "already routed: nothing to send"
    selfops("cleanup", "-q", "--force", "--reason", "test setup", "-e", "bluegreen_retention=0")
    target = "green" if active() == "blue" else "blue"
    refused = route(target, check=True)
    assert refused["failed"] and "is it running?" in refused["msg"], "no containers there: refused"
    selfops("lab", "image", "2.0.0", "-q")
    current = json.loads(STATE_FILE.read_text())["versions"][active()]
    selfops("deploy", "1.0.0" if current == "2.0.0" else "2.0.0", "-q")
    map_before = (LB_DIR / loadbalancer.MAP).read_text()
    planned = route(target, check=True)
    assert not planned["failed"] and planned["changed"]
    assert planned["commands"][-1] == f"set map {MAP} active {target}"
    assert live_slot() == active() and served_by() == active(), "check mode sent nothing"
    assert (LB_DIR / loadbalancer.MAP).read_text() == map_before


def test_traffic_moved_behind_the_collections_back_is_drift_and_lab_up_repairs_it(lab):
    recorded = active()
    other = "green" if recorded == "blue" else "blue"
    with loadbalancer.AdminSocket(str(LB_DIR / loadbalancer.SOCKET)) as admin:
        admin.command(f"set map {MAP} active {other}")
    try:
        found = drift()
        assert f"the load balancer sends traffic to {other} but the recorded active slot is {recorded}" in found
        assert any("a restart would move it" in line for line in found)
        refused = selfops("cleanup", "--force", "--reason", "test", "-e", "bluegreen_retention=0", check=False)
        assert refused.returncode == 1 and "the load balancer sends traffic to it" in refused.stderr, \
            "the slot traffic goes to is never removed, even with force"
    finally:
        selfops("lab", "up", "-q")
    assert live_slot() == recorded and drift() == []


def test_a_restarted_load_balancer_comes_back_on_the_active_slot(lab):
    recorded = active()
    docker.from_env().containers.get("selfology-lb").restart(timeout=5)
    started = time.monotonic()

    def serving():
        try:
            return served_by() == recorded
        except OSError:
            return False

    wait_for(serving, timeout=20, message="the restarted load balancer serving the active slot")
    print(f"\nload balancer serving the active slot {time.monotonic() - started:.2f}s after its restart")
    assert live_slot() == recorded and drift() == []
