"""prometheus_query, alertmanager_alerts and alertmanager_silence through real Ansible on localhost,
against a real Prometheus and a real Alertmanager (the fixtures prometheus_url and alertmanager_url:
the lab's, or the servers named by SELFOLOGY_TEST_PROMETHEUS_URL / SELFOLOGY_TEST_ALERTMANAGER_URL).

The alerts these tests push carry a label selfology_test=<a fresh id>, which every listing here
filters on, so alerts that really fire do not disturb the counts; they are resolved at the end, and
every silence created here is expired.
"""
import json
import shutil
import socket
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import ansible_runner
import pytest

from lab import INVENTORY, ROOT, _env, run_module

pytestmark = pytest.mark.integration

QUERY = "selfology.ops.prometheus_query"
ALERTS = "selfology.ops.alertmanager_alerts"
SILENCE = "selfology.ops.alertmanager_silence"
TEST_ALERT = "SelfologyModulesTest"


def api(url, path, body=None, method=None):
    """Calls a server's API directly (not through the modules), for setting up and for checking."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
    return json.loads(raw) if raw else None


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ok(result):
    assert not result.get("failed"), result.get("msg")
    return result


# prometheus_query

def test_instant_query_values_are_floats(prometheus_url):
    vector = ok(run_module(QUERY, dict(url=prometheus_url, query="vector(42)")))
    assert vector["changed"] is False and vector["result_type"] == "vector" and vector["series"] == 1
    assert vector["value"] == 42.0 and isinstance(vector["value"], float)
    assert vector["result"][0]["metric"] == {} and vector["result"][0]["value"] == 42.0
    assert abs(vector["time"] - time.time()) < 30
    short = ok(run_module(QUERY, dict(url=prometheus_url, query="vector(42)", timeout=2.5)))
    assert short["value"] == 42.0, "a fractional timeout is sent in a form Prometheus takes"

    scalar = ok(run_module(QUERY, dict(url=prometheus_url, query="scalar(vector(3)) * 2")))
    assert scalar["result_type"] == "scalar" and scalar["value"] == 6.0
    assert scalar["result"] == [dict(metric={}, timestamp=scalar["result"][0]["timestamp"], value=6.0)]

    at = ok(run_module(QUERY, dict(url=prometheus_url, query="time()", time="2026-01-01T00:00:00Z")))
    assert at["value"] == 1767225600.0 and at["time"] == 1767225600.0
    ago = ok(run_module(QUERY, dict(url=prometheus_url, query="time()", time="now-1h")))
    assert abs(ago["value"] - (time.time() - 3600)) < 30

    several = ok(run_module(QUERY, dict(url=prometheus_url, query='label_replace(vector(1), "a", "x", "", "") '
                                                                  'or label_replace(vector(2), "a", "y", "", "")')))
    assert several["series"] == 2 and several["value"] is None
    assert sorted(item["value"] for item in several["result"]) == [1.0, 2.0]
    empty = ok(run_module(QUERY, dict(url=prometheus_url, query="vector(1) > 5")))
    assert empty["result"] == [] and empty["value"] is None


def test_instant_query_reads_real_series(prometheus_url):
    """Prometheus's own scrape: the targets it scrapes have an up series of 0 or 1."""
    up = ok(run_module(QUERY, dict(url=prometheus_url, query="up")))
    assert up["series"] >= 1 and all(item["value"] in (0.0, 1.0) for item in up["result"])
    assert all(item["metric"]["__name__"] == "up" and "job" in item["metric"] for item in up["result"])


def test_special_float_values_survive_ansible(prometheus_url):
    inf = ok(run_module(QUERY, dict(url=prometheus_url, query="1/0")))
    assert inf["value"] == float("inf")
    nan = ok(run_module(QUERY, dict(url=prometheus_url, query="0/0")))
    assert nan["value"] != nan["value"]  # NaN


def test_range_query_point_count(prometheus_url):
    window = ok(run_module(QUERY, dict(url=prometheus_url, query="vector(1)", range="10m", step="1m")))
    assert window["result_type"] == "matrix" and window["value"] is None and window["series"] == 1
    values = window["result"][0]["values"]
    assert len(values) == 11 and all(pair[1] == 1.0 for pair in values)
    assert window["end"] - window["start"] == 600 and window["step"] == 60 and window["time"] is None

    ends = ok(run_module(QUERY, dict(url=prometheus_url, query="time()",
                                     range=dict(start=1767225600, end="2026-01-01T01:00:00Z", step="15m"))))
    assert ends["result"][0]["values"] == [[1767225600.0 + 900 * i, 1767225600.0 + 900 * i] for i in range(5)]

    ending = ok(run_module(QUERY, dict(url=prometheus_url, query="vector(1)", range="1h", step="30m",
                                       time="2026-01-01T01:00:00Z")))
    assert [pair[0] for pair in ending["result"][0]["values"]] == [1767225600.0, 1767227400.0, 1767229200.0]

    real = ok(run_module(QUERY, dict(url=prometheus_url, query="up", range="30s", step="5s")))
    assert real["series"] >= 1 and all(1 <= len(s["values"]) <= 7 for s in real["result"])


def test_bad_query_fails_with_prometheus_own_error(prometheus_url):
    own = api(prometheus_url, "/api/v1/query?" + urllib.parse.urlencode(dict(query="sum(rate(x[5m])")))
    assert own["status"] == "error"
    result = run_module(QUERY, dict(url=prometheus_url, query="sum(rate(x[5m])"))
    assert result["failed"] and result["error_type"] == own["errorType"] == "bad_data"
    assert result["error"] == own["error"] and own["error"] in result["msg"]
    assert result["msg"].startswith("Prometheus at %s refused the query (bad_data): " % prometheus_url.rstrip("/"))
    assert "rate(x" not in result["msg"], "the query is not echoed"

    too_many = run_module(QUERY, dict(url=prometheus_url, query="vector(1)", range="30d", step="1m"))
    assert too_many["failed"] and too_many["error_type"] == "bad_data" and "11,000 points" in too_many["error"]


def test_bad_options_are_refused_before_asking(prometheus_url):
    compound = run_module(QUERY, dict(url=prometheus_url, query="up", range="1h30m", step="1m"))
    assert compound["failed"] and "range: '1h30m' is not a duration" in compound["msg"]
    no_step = run_module(QUERY, dict(url=prometheus_url, query="up", range="1h"))
    assert no_step["failed"] and "needs a step" in no_step["msg"]
    bad_time = run_module(QUERY, dict(url=prometheus_url, query="up", time="yesterday"))
    assert bad_time["failed"] and "time: 'yesterday' is not a time" in bad_time["msg"]


def test_unreachable_prometheus_is_named_without_credentials():
    port = free_port()
    result = run_module(QUERY, dict(url="http://ops:s3cret@127.0.0.1:%d/" % port, query="up", timeout=3))
    assert result["failed"]
    assert result["msg"].startswith("Prometheus at http://127.0.0.1:%d is unreachable: " % port)
    assert "refused" in result["msg"].lower() and "s3cret" not in json.dumps(result)


def test_silent_server_times_out():
    with socket.socket() as sock:  # listens, never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        started = time.monotonic()
        result = run_module(QUERY, dict(url="http://127.0.0.1:%d" % port, query="up", timeout=1))
        assert time.monotonic() - started < 15
    assert result["failed"] and result["msg"] == "Prometheus at http://127.0.0.1:%d is unreachable: no answer within 1s" % port


def test_not_a_prometheus_is_said_so(alertmanager_url):
    result = run_module(QUERY, dict(url=alertmanager_url, query="up"))
    assert result["failed"] and "answered 404 to /api/v1/query, not as its API does" in result["msg"]


# alertmanager_alerts and alertmanager_silence

@pytest.fixture
def test_alerts(alertmanager_url):
    """Pushes alerts labelled with a fresh selfology_test id, as Prometheus would; resolves them and
    expires the silences on them afterwards."""
    run_id = uuid.uuid4().hex[:12]
    pushed = []

    def push(severity, **labels):
        now = datetime.now(timezone.utc)
        alert = dict(labels=dict(dict(alertname=TEST_ALERT, severity=severity, selfology_test=run_id), **labels),
                     annotations=dict(summary="%s test alert" % severity, description="pushed by the tests"),
                     startsAt=iso(now - timedelta(seconds=5)), endsAt=iso(now + timedelta(minutes=5)),
                     generatorURL="http://127.0.0.1:9090/graph")
        api(alertmanager_url, "/api/v2/alerts", [alert])
        pushed.append(alert)
        return alert

    push.run_id = run_id
    yield push
    now = iso(datetime.now(timezone.utc))
    api(alertmanager_url, "/api/v2/alerts", [dict(a, endsAt=now) for a in pushed])
    for silence in api(alertmanager_url, "/api/v2/silences"):
        if silence["status"]["state"] != "expired" and any(
                m["name"] == "selfology_test" and m["value"] == run_id for m in silence["matchers"]):
            api(alertmanager_url, "/api/v2/silence/%s" % silence["id"], method="DELETE")


def mine(alertmanager_url, run_id, **options):
    return ok(run_module(ALERTS, dict(dict(url=alertmanager_url, filters=dict(selfology_test=run_id)), **options)))


def live_silences(alertmanager_url, run_id):
    return [s for s in api(alertmanager_url, "/api/v2/silences")
            if s["status"]["state"] in ("active", "pending")
            and any(m["name"] == "selfology_test" and m["value"] == run_id for m in s["matchers"])]


def test_alerts_are_listed_by_severity(alertmanager_url, test_alerts):
    test_alerts("warning", service="api")
    test_alerts("critical", service="analysis-worker")
    listed = mine(alertmanager_url, test_alerts.run_id)
    assert listed["changed"] is False and listed["total"] == 2
    assert listed["by_severity"] == {"critical": 1, "warning": 1}
    assert listed["by_state"] == {"active": 2, "suppressed": 0, "unprocessed": 0}
    first, second = listed["alerts"]
    assert first["labels"]["severity"] == "critical" and second["labels"]["severity"] == "warning"
    assert first["labels"]["service"] == "analysis-worker" and first["annotations"]["summary"] == "critical test alert"
    assert first["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
    assert first["startsAt"].endswith("Z") and first["fingerprint"] and first["receivers"]

    critical = mine(alertmanager_url, test_alerts.run_id,
                    filters=dict(selfology_test=test_alerts.run_id, severity="critical"))
    assert critical["total"] == 1 and critical["by_severity"] == {"critical": 1, "warning": 0}
    not_active = mine(alertmanager_url, test_alerts.run_id, active=False)
    assert not_active["total"] == 0

    everything = ok(run_module(ALERTS, dict(url=alertmanager_url)))
    assert everything["total"] >= 2 and sum(everything["by_severity"].values()) == everything["total"]


def test_silence_is_idempotent_and_mutes_the_alert(alertmanager_url, test_alerts):
    test_alerts("critical", service="analysis-worker")
    test_alerts("warning", service="api")
    args = dict(url=alertmanager_url, matchers=dict(alertname=TEST_ALERT, selfology_test=test_alerts.run_id,
                                                    severity="critical"),
                duration="30m", author="integration-test", comment="INC-0: acknowledged by the tests")
    created = ok(run_module(SILENCE, args))
    assert created["changed"] and created["matched_alerts"] == 1
    silence_id = created["silence_id"]
    silence = created["silence"]
    assert silence["id"] == silence_id and silence["status"]["state"] == "active"
    assert silence["createdBy"] == "integration-test" and silence["comment"] == "INC-0: acknowledged by the tests"
    assert {m["name"]: m["value"] for m in silence["matchers"]} == args["matchers"]
    starts = datetime.fromisoformat(silence["startsAt"].replace("Z", "+00:00"))
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert abs((ends - starts).total_seconds() - 1800) < 5
    assert [s["id"] for s in live_silences(alertmanager_url, test_alerts.run_id)] == [silence_id]

    again = ok(run_module(SILENCE, args))
    assert not again["changed"] and again["silence_id"] == silence_id
    assert len(live_silences(alertmanager_url, test_alerts.run_id)) == 1

    listed = mine(alertmanager_url, test_alerts.run_id)
    by_severity = {a["labels"]["severity"]: a for a in listed["alerts"]}
    assert by_severity["critical"]["status"]["state"] == "suppressed"
    assert by_severity["critical"]["status"]["silencedBy"] == [silence_id]
    assert by_severity["warning"]["status"]["state"] == "active"
    assert listed["by_state"] == {"active": 1, "suppressed": 1, "unprocessed": 0}
    unacknowledged = mine(alertmanager_url, test_alerts.run_id, silenced=False)
    assert [a["labels"]["severity"] for a in unacknowledged["alerts"]] == ["warning"]
    silenced_only = mine(alertmanager_url, test_alerts.run_id, active=False)
    assert [a["labels"]["severity"] for a in silenced_only["alerts"]] == ["critical"]

    other_comment = ok(run_module(SILENCE, dict(args, comment="INC-1: a second acknowledgement")))
    assert other_comment["changed"] and other_comment["silence_id"] != silence_id

    expired = ok(run_module(SILENCE, dict(url=alertmanager_url, state="expired", silence_id=silence_id)))
    assert expired["changed"] and expired["expired"] == [silence_id] and expired["found"]
    assert api(alertmanager_url, "/api/v2/silence/%s" % silence_id)["status"]["state"] == "expired"
    twice = ok(run_module(SILENCE, dict(url=alertmanager_url, state="expired", silence_id=silence_id)))
    assert not twice["changed"] and twice["expired"] == [] and twice["found"]

    by_identity = ok(run_module(SILENCE, dict(args, state="expired", duration=None,
                                              comment="INC-1: a second acknowledgement")))
    assert by_identity["expired"] == [other_comment["silence_id"]] and by_identity["changed"]
    assert live_silences(alertmanager_url, test_alerts.run_id) == []
    active_again = mine(alertmanager_url, test_alerts.run_id, silenced=False)
    assert active_again["by_severity"] == {"critical": 1, "warning": 1}


def test_check_mode_creates_and_expires_nothing(alertmanager_url, test_alerts):
    test_alerts("critical")
    args = dict(url=alertmanager_url, matchers=dict(selfology_test=test_alerts.run_id), duration="10m",
                author="integration-test", comment="check mode")
    would = ok(run_module(SILENCE, args, check=True))
    assert would["changed"] and would["silence_id"] is None and would["matched_alerts"] == 1
    assert would["silence"]["createdBy"] == "integration-test" and would["diff"]["before"] == {}
    assert live_silences(alertmanager_url, test_alerts.run_id) == []
    assert mine(alertmanager_url, test_alerts.run_id)["by_state"]["active"] == 1

    created = ok(run_module(SILENCE, args))
    would_expire = ok(run_module(SILENCE, dict(url=alertmanager_url, state="expired",
                                               silence_id=created["silence_id"]), check=True))
    assert would_expire["changed"] and would_expire["expired"] == [created["silence_id"]]
    assert [s["id"] for s in live_silences(alertmanager_url, test_alerts.run_id)] == [created["silence_id"]]
    listed_in_check_mode = ok(run_module(ALERTS, dict(url=alertmanager_url,
                                                      filters=dict(selfology_test=test_alerts.run_id)), check=True))
    assert listed_in_check_mode["by_state"]["suppressed"] == 1 and not listed_in_check_mode["changed"]


def test_silence_options_are_checked(alertmanager_url):
    base = dict(url=alertmanager_url, matchers=dict(alertname=TEST_ALERT), author="t", comment="c")
    missing = run_module(SILENCE, dict(base))
    assert missing["failed"] and "duration" in missing["msg"]
    compound = run_module(SILENCE, dict(base, duration="1h30m"))
    assert compound["failed"] and "duration: '1h30m' is not a duration" in compound["msg"]
    no_labels = run_module(SILENCE, dict(base, matchers={}, duration="1h"))
    assert no_labels["failed"] and "at least one label" in no_labels["msg"]
    bad_label = run_module(SILENCE, dict(base, matchers={"bad-name": "x"}, duration="1h"))
    assert bad_label["failed"] and "'bad-name' is not a label name" in bad_label["msg"]
    not_an_id = run_module(SILENCE, dict(url=alertmanager_url, state="expired", silence_id="nope"))
    assert not_an_id["failed"] and "is not a silence id" in not_an_id["msg"]
    unknown = ok(run_module(SILENCE, dict(url=alertmanager_url, state="expired", silence_id=str(uuid.uuid4()))))
    assert not unknown["changed"] and not unknown["found"]


def test_unreachable_alertmanager_is_named():
    port = free_port()
    for module, args in ((ALERTS, {}), (SILENCE, dict(matchers=dict(a="b"), duration="1h", author="t", comment="c"))):
        result = run_module(module, dict(args, url="http://127.0.0.1:%d" % port, timeout=3))
        assert result["failed"] and result["msg"].startswith("Alertmanager at http://127.0.0.1:%d is unreachable: " % port)


# As ordinary modules (what runs on a host that is not the controller)

def test_as_modules_on_the_host(tmp_path, prometheus_url, alertmanager_url):
    """The run above is in-process (local connection); copies of the module files in a library folder
    have no action plugin, so Ansible ships them to the host as AnsiballZ modules, with the module_utils."""
    library = tmp_path / "library"
    library.mkdir()
    for name in ("prometheus_query", "alertmanager_alerts"):
        shutil.copy(ROOT / "plugins" / "modules" / ("%s.py" % name), library / ("as_module_%s.py" % name))
    tasks = [
        {"as_module_prometheus_query": dict(url=prometheus_url, query="vector(2) / 8"), "register": "instant"},
        {"as_module_prometheus_query": dict(url=prometheus_url, query="1/0"), "register": "inf"},
        {"as_module_prometheus_query": dict(url=prometheus_url, query="vector(1)", range="2m", step="1m"),
         "register": "window"},
        {"as_module_prometheus_query": dict(url=prometheus_url, query="sum("), "register": "bad",
         "ignore_errors": True},
        {"as_module_alertmanager_alerts": dict(url=alertmanager_url, filters=dict(selfology_test="none")),
         "register": "alerts"},
        {"ansible.builtin.copy": {"content": "{{ dict(instant=instant, inf=inf, window=window, bad=bad, "
                                             "alerts=alerts) | to_json }}", "dest": str(tmp_path / "out.json")}},
    ]
    (tmp_path / "runner").mkdir()
    (tmp_path / "play.yml").write_text(json.dumps([{"hosts": "selfology", "gather_facts": False, "tasks": tasks}]))
    runner = ansible_runner.run(private_data_dir=str(tmp_path / "runner"), playbook=str(tmp_path / "play.yml"),
                                inventory=str(INVENTORY), quiet=True,
                                envvars=dict(_env(), ANSIBLE_LIBRARY=str(library)))
    assert runner.rc == 0, runner.stdout.read()
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["instant"]["value"] == 0.25 and out["instant"]["changed"] is False
    assert out["inf"]["value"] == float("inf")
    assert len(out["window"]["result"][0]["values"]) == 3
    assert out["bad"]["failed"] and out["bad"]["error_type"] == "bad_data" and "parse error" in out["bad"]["msg"]
    assert out["alerts"]["total"] == 0 and out["alerts"]["by_severity"] == {"critical": 0, "warning": 0}
