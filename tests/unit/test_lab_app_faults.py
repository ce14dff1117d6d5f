"""The lab services' flaky fault: 500 on exactly every 5th route request from the 51st on, with
/health, /metrics and /version untouched, so a flaky version passes the deploy's smoke gate and
errors under traffic; and the sluggish fault: every route request from the 51st on answers 250 ms
later, /health and /version staying fast. Checked on the pure rules and on the services' real HTTP
handler."""
import itertools
import json
import sys
import time
import types
import urllib.error
import urllib.request

import pytest

from lab import ROOT

sys.path.insert(0, str(ROOT / "lab" / "app"))

from selfology_app import runtime  # noqa: E402
from selfology_app.config import FAULTS  # noqa: E402


def test_flaky_fails_exactly_20_percent_of_requests_51_to_150():
    failing = [n for n in range(1, 151) if runtime.flaky_fails(n)]
    assert failing == list(range(55, 151, 5))
    assert len([n for n in range(51, 151) if runtime.flaky_fails(n)]) == 20
    assert not any(runtime.flaky_fails(n) for n in range(1, 51))


def test_flaky_keeps_failing_one_in_five_for_ever():
    assert sum(runtime.flaky_fails(n) for n in range(51, 10051)) == 2000


def test_flaky_is_a_fault_the_services_accept():
    assert "flaky" in FAULTS


class FakeRuntime:
    """What the HTTP handler uses of a Runtime: settings, health, version, the route counter, log."""

    def __init__(self, fault):
        self.settings = types.SimpleNamespace(service="session-management", slot="green", version="9.9.9",
                                              fault=fault, port=0, slow_seconds=0.01)
        self.route_requests = itertools.count(1)
        self.lines = []

    def health(self):
        return True, {"status": "healthy", "slot": self.settings.slot, "version": self.settings.version}

    def version(self):
        return {"version": self.settings.version}

    def log(self, line):
        self.lines.append(line)


def serve(fault):
    fake = FakeRuntime(fault)
    routes = {("GET", "/api/sessions"): lambda handler, path: (200, {"ok": True})}
    server = runtime.serve(fake, routes)
    return fake, server, f"http://127.0.0.1:{server.server_address[1]}"


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def flaky_service():
    fake, server, url = serve("flaky")
    yield url
    server.shutdown()
    server.server_close()


def test_a_flaky_service_passes_its_health_checks_and_errors_under_traffic(flaky_service):
    url = flaky_service
    answers = []
    for n in range(1, 151):
        # health checks, probes of /version and scrapes in between are neither counted nor failed
        assert status(url + "/health")[0] == 200
        assert status(url + "/version")[0] == 200
        answers.append(status(f"{url}/api/sessions/{n}"))
    failed = [n for n, (code, _body) in enumerate(answers, 1) if code >= 500]
    assert failed == list(range(55, 151, 5))
    assert answers[54] == (500, {"error": "injected fault: flaky"})
    assert status(url + "/health") == (200, {"status": "healthy", "slot": "green", "version": "9.9.9"})


def test_unknown_paths_are_not_routes_and_do_not_move_the_count():
    fake, server, url = serve("flaky")
    try:
        for _n in range(60):
            assert status(url + "/api/nothing")[0] == 404
        assert next(fake.route_requests) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_without_the_fault_nothing_fails():
    _fake, server, url = serve("none")
    try:
        assert all(status(f"{url}/api/sessions/{n}")[0] == 200 for n in range(1, 61))
    finally:
        server.shutdown()
        server.server_close()


def test_sluggish_waits_from_the_51st_request_on_and_never_before():
    assert [runtime.sluggish_delay(n) for n in range(1, 51)] == [0.0] * 50
    assert all(runtime.sluggish_delay(n) == runtime.SLUGGISH_SECONDS for n in range(51, 1051))
    assert runtime.SLUGGISH_SECONDS >= 0.15, "p95 above 2x a healthy version's (a few ms) with margin"


def test_sluggish_is_a_fault_the_services_accept():
    assert "sluggish" in FAULTS


def timed(url):
    started = time.monotonic()
    code = status(url)[0]
    return code, time.monotonic() - started


def test_a_sluggish_service_passes_its_health_checks_and_is_slow_under_traffic(monkeypatch):
    monkeypatch.setattr(runtime, "SLUGGISH_SECONDS", 0.1)  # the rule's shape, at a test's speed
    fake, server, url = serve("sluggish")
    try:
        fast = [timed(f"{url}/api/sessions/{n}") for n in range(1, 51)]
        health = [timed(url + "/health") for _n in range(5)] + [timed(url + "/version")]
        slow = [timed(f"{url}/api/sessions/{n}") for n in range(51, 61)]
    finally:
        server.shutdown()
        server.server_close()
    assert all(code == 200 for code, _s in fast + health + slow), "sluggish never fails a request"
    assert max(s for _c, s in fast) < 0.1 and max(s for _c, s in health) < 0.1
    assert min(s for _c, s in slow) >= 0.1
    assert next(fake.route_requests) == 61, "only route requests are counted"
