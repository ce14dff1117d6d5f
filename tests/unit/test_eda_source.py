"""The collection's Alertmanager event source (extensions/eda): one event per alert of a version 4
notification, malformed bodies refused with nothing queued, the bearer token checked; and the
rulebook is one ansible-rulebook accepts, sending each alert to its incident playbook."""
import asyncio
import json
import runpy

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from lab import ROOT

SOURCE = runpy.run_path(str(ROOT / "extensions" / "eda" / "plugins" / "event_source" / "alertmanager.py"))
RULEBOOK = ROOT / "extensions" / "eda" / "rulebooks" / "selfology_incidents.yml"


def alert(name="ServiceDown", status="firing", fingerprint="5c1f0e2a9b7d3e41", **labels):
    return {"status": status, "labels": dict({"alertname": name, "severity": "critical", "priority": "P0"}, **labels),
            "annotations": {"summary": "analysis-worker is down", "command": "selfops incident service-down"},
            "startsAt": "2026-11-29T07:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": fingerprint}


def notification(*alerts, version="4"):
    return {"version": version, "groupKey": '{}:{alertname="ServiceDown"}', "truncatedAlerts": 0, "status": "firing",
            "receiver": "eda", "groupLabels": {"alertname": "ServiceDown"}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": list(alerts)}


def test_one_event_per_alert_with_the_group_fields():
    events = SOURCE["alert_events"](notification(alert(service="analysis-worker"),
                                                 alert("ServiceDownEscalated", fingerprint="e1", escalation="secondary")),
                                    endpoint="alerts")
    assert [e["alert"]["fingerprint"] for e in events] == ["5c1f0e2a9b7d3e41", "e1"]
    first = events[0]
    assert set(first) == {"alert", "receiver", "externalURL", "groupKey", "endpoint"}
    assert first["receiver"] == "eda" and first["externalURL"] == "http://alertmanager:9093"
    assert first["endpoint"] == "alerts"
    assert first["alert"] == alert(service="analysis-worker")
    assert events[1]["alert"]["labels"]["escalation"] == "secondary"


def test_missing_annotations_are_an_empty_object_and_an_empty_notification_no_event():
    bare = alert()
    del bare["annotations"], bare["generatorURL"]
    event = SOURCE["alert_events"](notification(bare))[0]["alert"]
    assert event["annotations"] == {} and event["generatorURL"] is None
    assert SOURCE["alert_events"](notification()) == []


@pytest.mark.parametrize("payload, why", [
    ([], "not a JSON object"),
    (notification(alert(), version="3"), "only version 4"),
    (dict(notification(), alerts={"a": 1}), "alerts is not a list"),
    (notification("x"), r"alerts\[0\] is not an object"),
    (notification(dict(alert(), labels={"service": "x"})), "alertname"),
    (notification(alert(), dict(alert(), status="pending")), r"alerts\[1\] has status 'pending'"),
    (notification(dict(alert(), fingerprint="")), "fingerprint"),
    (notification(dict(alert(), annotations=["x"])), "annotations"),
])
def test_a_malformed_notification_is_refused_whole(payload, why):
    with pytest.raises(SOURCE["InvalidPayload"], match=why):
        SOURCE["alert_events"](payload)


@pytest.mark.parametrize("header, token, allowed", [
    (None, "", True), ("anything", None, True),
    ("Bearer s3cret", "s3cret", True), ("bearer s3cret ", "s3cret", True),
    (None, "s3cret", False), ("Bearer wrong", "s3cret", False), ("Basic s3cret", "s3cret", False),
    ("Bearer", "s3cret", False), ("s3cret", "s3cret", False),
])
def test_the_bearer_token(header, token, allowed):
    assert SOURCE["authorized"](header, token) is allowed


def serve(token, requests):
    """Posts each (headers, body) to the source's application; returns the answers and the queue."""
    async def run():
        queue = asyncio.Queue()
        client = TestClient(TestServer(SOURCE["application"](queue, token)))
        await client.start_server()
        answers = []
        try:
            for method, path, headers, body in requests:
                response = await client.request(method, path, headers=headers, data=body)
                answers.append((response.status, await response.text()))
        finally:
            await client.close()
        events = []
        while not queue.empty():
            events.append(queue.get_nowait())
        return answers, events
    return asyncio.run(run())


def test_the_server_queues_each_alert_and_refuses_the_rest():
    good = json.dumps(notification(alert(service="analysis-worker"), alert("HighErrorRate", fingerprint="f2")))
    answers, events = serve("s3cret", [
        ("POST", "/alerts", {"Authorization": "Bearer s3cret"}, good),
        ("POST", "/alerts", {}, good),
        ("POST", "/alerts", {"Authorization": "Bearer nope"}, good),
        ("POST", "/", {"Authorization": "Bearer s3cret"}, "{not json"),
        ("POST", "/", {"Authorization": "Bearer s3cret"}, json.dumps(notification(alert(), version="2"))),
        ("GET", "/health", {}, None),
    ])
    assert [answer[0] for answer in answers] == [202, 401, 401, 400, 400, 200]
    assert answers[0][1] == "2 alerts received\n"
    assert [(e["alert"]["labels"]["alertname"], e["endpoint"]) for e in events] == [
        ("ServiceDown", "alerts"), ("HighErrorRate", "alerts")]


def test_main_serves_on_the_given_address_until_cancelled(unused_tcp_port):
    async def run():
        queue = asyncio.Queue()
        task = asyncio.create_task(SOURCE["main"](queue, {"host": "127.0.0.1", "port": str(unused_tcp_port)}))
        url = "http://127.0.0.1:%d" % unused_tcp_port
        async with aiohttp.ClientSession() as session:
            for _attempt in range(100):
                try:
                    async with session.post(url + "/", json=notification(alert())) as response:
                        status = response.status
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return status, await queue.get()
    status, event = asyncio.run(run())
    assert status == 202 and event["alert"]["fingerprint"] == "5c1f0e2a9b7d3e41"


@pytest.fixture
def unused_tcp_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_source_documents_its_options():
    doc = yaml.safe_load(SOURCE["DOCUMENTATION"])
    assert set(doc["options"]) == {"host", "port", "token"}
    assert doc["options"]["host"]["default"] == "127.0.0.1"
    assert list(yaml.safe_load(SOURCE["EXAMPLES"])[0]) == ["selfology.ops.alertmanager"]


def test_the_rulebook_is_valid_and_maps_each_alert_to_its_playbook():
    from ansible_rulebook.validators import Validate
    rulebook = yaml.safe_load(RULEBOOK.read_text())
    Validate.rulebook(rulebook)
    ruleset, = rulebook
    assert list(ruleset["sources"][0]) == ["name", "selfology.ops.alertmanager"]
    playbooks = {rule["condition"].split('alertname == "')[1].split('"')[0]: rule["action"]["run_playbook"]
                 for rule in ruleset["rules"]}
    assert {name: run["name"] for name, run in playbooks.items()} == {
        "ServiceDown": "selfology.ops.incident_service_down", "HighErrorRate": "selfology.ops.incident_error_rate",
        "EventProcessingBacklog": "selfology.ops.incident_backlog"}
    for name, run in playbooks.items():
        assert run["extra_vars"]["incident_trigger"] == "alert"
        assert run["extra_vars"]["incident_alert"] == "{{ event.alert }}"
    assert playbooks["ServiceDown"]["extra_vars"]["incident_service"] == "{{ event.alert.labels.service }}"
    for rule in ruleset["rules"]:
        assert 'event.alert.status == "firing"' in rule["condition"]
        assert "event.alert.labels.escalation is not defined" in rule["condition"]


def test_the_rulebook_conditions_parse():
    from ansible_rulebook.condition_parser import parse_condition
    ruleset, = yaml.safe_load(RULEBOOK.read_text())
    for rule in ruleset["rules"]:
        parse_condition(rule["condition"])
