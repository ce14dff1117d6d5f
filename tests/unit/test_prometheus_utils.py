"""The pure parts of the Prometheus and Alertmanager clients: times, ranges, answers, matchers, silences."""
import math

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import alertmanager, prometheus
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

NOW = 1767225600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize("value, expected", [
    ("now", NOW),
    ("now-1h", NOW - 3600),
    ("now-500ms", NOW - 0.5),
    ("now-7d", NOW - 7 * 86400),
    (1700000000, 1700000000.0),
    (1700000000.25, 1700000000.25),
    ("1700000000", 1700000000.0),
    ("1700000000.5", 1700000000.5),
    ("2026-01-01T00:00:00Z", NOW),
    ("2026-01-01T00:00:00.250Z", NOW + 0.25),
    ("2026-01-01T02:00:00+02:00", NOW),
    ("2025-12-31T19:00:00-05:00", NOW),
    ("2026-01-01 00:00:00z", NOW),
])
def test_times(value, expected):
    assert prometheus.parse_time(value, "time", NOW) == pytest.approx(expected)


@pytest.mark.parametrize("value, message", [
    ("yesterday", "time: 'yesterday' is not a time"),
    ("now-1h30m", "time: '1h30m' is not a duration"),
    ("now - 1h", "is not a time"),
    ("now+1h", "is not a time"),
    ("2026-02-30T00:00:00Z", "is not a time"),
    ("2026-01-01T00:00:00", "is not a time"),  # a time without a zone means nothing on another host
    ("", "is not a time"),
    (True, "is not a time"),
])
def test_bad_times(value, message):
    with pytest.raises(SelfologyError, match=message.replace("(", r"\(")):
        prometheus.parse_time(value, "time", NOW)


def test_range_as_a_duration_ends_at_time_or_now():
    assert prometheus.resolve_range("1h", "1m", None, NOW) == (NOW - 3600, NOW, 60)
    assert prometheus.resolve_range("30m", "15s", "now-1h", NOW) == (NOW - 5400, NOW - 3600, 15)
    assert prometheus.resolve_range(None, None, None, NOW) is None


def test_range_as_a_dict():
    assert prometheus.resolve_range(dict(start="now-2h", end="now-1h", step="30s"), None, None, NOW) == (
        NOW - 7200, NOW - 3600, 30)
    assert prometheus.resolve_range(dict(start="2025-12-31T23:00:00Z"), "5m", None, NOW) == (NOW - 3600, NOW, 300)


@pytest.mark.parametrize("range_, step, time, message", [
    ("1h", None, None, "needs a step"),
    (None, "1m", None, "step is only for a range query"),
    ("1h30m", "1m", None, "range: '1h30m' is not a duration"),
    ("0s", "1m", None, "range: 0s is out of range"),
    ("1h", "0s", None, "step: 0s is out of range"),
    ("1h", "1.5m", None, "step: '1.5m' is not a duration"),
    (dict(end="now"), "1m", None, "range: start is required"),
    (dict(start="now-1h", stop="now"), "1m", None, "unknown key.s. stop"),
    (dict(start="now-1h", step="1m"), "1m", None, "give the step once"),
    (dict(start="now-1h", step="1m"), None, "now", "time cannot be given with range.start"),
    (dict(start="now", end="now-1h", step="1m"), None, None, "end is before start"),
])
def test_bad_ranges(range_, step, time, message):
    with pytest.raises(SelfologyError, match=message):
        prometheus.resolve_range(range_, step, time, NOW)


def test_results_get_float_values():
    vector = prometheus.convert_result("vector", [
        {"metric": {"job": "a"}, "value": [NOW, "1.5"]},
        {"metric": {"job": "b"}, "value": [NOW, "NaN"]},
        {"metric": {"job": "c"}, "value": [NOW, "+Inf"]},
    ])
    assert vector[0] == dict(metric={"job": "a"}, timestamp=NOW, value=1.5)
    assert math.isnan(vector[1]["value"]) and vector[2]["value"] == math.inf
    assert prometheus.single_value("vector", vector) is None
    assert prometheus.single_value("vector", vector[:1]) == 1.5
    assert prometheus.single_value("vector", []) is None

    matrix = prometheus.convert_result("matrix", [{"metric": {"job": "a"}, "values": [[NOW, "1"], [NOW + 60, "-Inf"]]}])
    assert matrix == [dict(metric={"job": "a"}, values=[[NOW, 1.0], [NOW + 60, -math.inf]])]
    assert prometheus.single_value("matrix", matrix) is None

    scalar = prometheus.convert_result("scalar", [NOW, "42"])
    assert scalar == [dict(metric={}, timestamp=NOW, value=42.0)] and prometheus.single_value("scalar", scalar) == 42.0
    string = prometheus.convert_result("string", [NOW, "hello"])
    assert string == [dict(metric={}, timestamp=NOW, value="hello")] and prometheus.single_value("string", string) is None


def test_unexpected_results_are_refused():
    with pytest.raises(prometheus.UnexpectedAnswer, match="not a number"):
        prometheus.convert_result("vector", [{"metric": {}, "value": [NOW, "many"]}])
    with pytest.raises(prometheus.UnexpectedAnswer, match="unknown type"):
        prometheus.convert_result("tensor", [])


@pytest.mark.parametrize("url, shown", [
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    ("http://127.0.0.1:9090/", "http://127.0.0.1:9090"),
    ("https://ops:s3cret@prom.example:9443/prometheus/?x=1#y", "https://prom.example:9443/prometheus"),
    ("http://[::1]:9090", "http://[::1]:9090"),
])
def test_urls_are_shown_without_credentials(url, shown):
    assert prometheus.shown_url(url) == shown


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://host", "http://", None])
def test_urls_must_be_http(url):
    with pytest.raises(SelfologyError, match="must be an http.s. URL"):
        prometheus.check_base_url(url, "Prometheus")


def test_refused_query_keeps_prometheus_error():
    answer = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unclosed left parenthesis"}
    with pytest.raises(prometheus.QueryRefused) as caught:
        prometheus._answer_data(400, answer, b"", "http://p:9090", "/api/v1/query")  # pylint: disable=protected-access
    assert str(caught.value) == ("Prometheus at http://p:9090 refused the query (bad_data): "
                                 "1:5: parse error: unclosed left parenthesis")
    assert caught.value.result == dict(error_type="bad_data", error=answer["error"], status=400)


def test_empty_query_and_no_timeout_are_refused_before_asking():
    with pytest.raises(SelfologyError, match="query must not be empty"):
        prometheus.query("http://127.0.0.1:1", "  ")
    with pytest.raises(SelfologyError, match="timeout must be more than 0 seconds"):
        prometheus.query("http://127.0.0.1:1", "up", timeout=0)


# Alertmanager

def test_matchers_are_exact_and_sorted():
    assert alertmanager.equality_matchers({"service": "api", "alertname": "ServiceDown"}, "matchers") == [
        dict(name="alertname", value="ServiceDown", isRegex=False, isEqual=True),
        dict(name="service", value="api", isRegex=False, isEqual=True),
    ]
    assert alertmanager.equality_matchers({"code": 500}, "matchers")[0]["value"] == "500"


@pytest.mark.parametrize("labels, message", [
    ({}, "at least one label"),
    (None, "at least one label"),
    ({"bad-name": "x"}, "'bad-name' is not a label name"),
    ({"1st": "x"}, "'1st' is not a label name"),
    ({"a": None}, "the value of a must be a string"),
    ({"a": ["x"]}, "the value of a must be a string"),
])
def test_bad_matchers(labels, message):
    with pytest.raises(SelfologyError, match=message):
        alertmanager.equality_matchers(labels, "matchers")


def test_filter_values_are_quoted_as_alertmanager_parses_them():
    assert alertmanager.filter_expression("service", "api") == 'service="api"'
    assert alertmanager.filter_expression("summary", 'say "hi"\\now') == 'summary="say \\"hi\\"\\\\now"'
    assert alertmanager.filter_expression("text", "two\nlines") == 'text="two\\nlines"'


def silence(ident, state, matchers, author="alice", comment="INC-1", ends="2026-01-01T01:00:00.000Z"):
    return dict(id=ident, status=dict(state=state), matchers=alertmanager.equality_matchers(matchers, "m"),
                createdBy=author, comment=comment, endsAt=ends)


def test_find_silences_by_matchers_author_and_comment():
    wanted = alertmanager.equality_matchers({"alertname": "ServiceDown", "service": "api"}, "m")
    silences = [
        silence("expired", "expired", {"alertname": "ServiceDown", "service": "api"}),
        silence("other-author", "active", {"alertname": "ServiceDown", "service": "api"}, author="bob"),
        silence("fewer", "active", {"alertname": "ServiceDown"}),
        silence("early", "active", {"service": "api", "alertname": "ServiceDown"}, ends="2026-01-01T00:30:00.000Z"),
        silence("pending", "pending", {"alertname": "ServiceDown", "service": "api"}, ends="2026-01-01T02:00:00.000Z"),
    ]
    regex = silence("regex", "active", {"alertname": "ServiceDown", "service": "api"})
    regex["matchers"][1]["isRegex"] = True
    silences.append(regex)
    found = alertmanager.find_silences(silences, wanted, "alice", "INC-1")
    assert [s["id"] for s in found] == ["pending", "early"]
    assert alertmanager.find_silences(silences, wanted, "alice", "INC-2") == []
    assert [s["id"] for s in alertmanager.find_silences(silences, wanted)] == ["pending", "other-author", "early"]


def test_silence_request():
    body = alertmanager.silence_request({"alertname": "ServiceDown"}, "90m", "alice", "INC-1", NOW)
    assert body == dict(matchers=[dict(name="alertname", value="ServiceDown", isRegex=False, isEqual=True)],
                        startsAt="2026-01-01T00:00:00.000Z", endsAt="2026-01-01T01:30:00.000Z",
                        createdBy="alice", comment="INC-1")
    for duration, message in (("0s", "out of range"), ("1h30m", "is not a duration"), ("400d", "out of range")):
        with pytest.raises(SelfologyError, match=message):
            alertmanager.silence_request({"a": "b"}, duration, "alice", "INC-1", NOW)
    with pytest.raises(SelfologyError, match="comment must not be empty"):
        alertmanager.silence_request({"a": "b"}, "1h", "alice", " ", NOW)


def alert(name, severity=None, state="active", starts="2026-01-01T00:00:00Z"):
    labels = dict(alertname=name, **({"severity": severity} if severity else {}))
    return dict(labels=labels, annotations={}, startsAt=starts, fingerprint=name,
                status=dict(state=state, silencedBy=["s"] if state == "suppressed" else [], inhibitedBy=[]),
                receivers=[{"name": "oncall"}])


def test_summary_orders_by_severity_and_counts():
    summary = alertmanager.summarise([
        alert("HighAICost", "warning"), alert("Custom", "page"), alert("Bare"),
        alert("ServiceDown", "critical", state="suppressed"), alert("InstantAnalysisSlow", "info"),
        alert("EventProcessingBacklog", "critical", starts="2025-12-31T23:00:00Z"),
    ])
    assert [a["labels"]["alertname"] for a in summary["alerts"]] == [
        "EventProcessingBacklog", "ServiceDown", "HighAICost", "InstantAnalysisSlow", "Bare", "Custom"]
    assert summary["by_severity"] == {"critical": 2, "warning": 1, "info": 1, "none": 1, "page": 1}
    assert summary["by_state"] == {"active": 5, "suppressed": 1, "unprocessed": 0}
    assert summary["total"] == 6 and summary["alerts"][0]["receivers"] == ["oncall"]
    assert alertmanager.summarise([]) == dict(alerts=[], by_severity={"critical": 0, "warning": 0},
                                              by_state={"active": 0, "suppressed": 0, "unprocessed": 0}, total=0)
