"""The post-switch analysis's decisions (module_utils/analysis.py), on figures given by hand: what fails a
measurement, what makes it inconclusive, when the analysis stops, and the whole loop on a fake
Prometheus and clock (Argo Rollouts' semantics: failures > failure_limit fails, no data is
inconclusive and never a pass)."""
import pytest

from ansible_collections.selfology.ops.plugins.module_utils import analysis
from ansible_collections.selfology.ops.plugins.module_utils.errors import BackendUnavailable, SelfologyError
from ansible_collections.selfology.ops.plugins.modules import rollout_analysis

THRESHOLDS = dict(max_error_ratio=0.05, max_latency_ratio=2.0, latency_floor=0.1, max_backlog_growth=100)
GOOD = dict(error_ratio=0.0, p95=0.012, baseline_p95=0.010, backlog_growth=0.0, alerts=[])
SWITCH = 1767225600.0  # 2026-01-01T00:00:00Z
SERVICES = ["question-selection", "session-management", "analysis-worker", "outbox-relay"]


def judge(errors=None, **changes):
    return analysis.judge(dict(GOOD, **changes), errors or {}, THRESHOLDS)


# ---- one measurement

def test_every_criterion_with_data_and_within_its_threshold_passes():
    assert judge() == ("passed", [], [])


@pytest.mark.parametrize("changes, criterion, text", [
    (dict(error_ratio=0.051), "error_ratio", "error rate 5.1 % > 5.0 %"),
    (dict(p95=0.45, baseline_p95=0.2), "latency", "p95 450 ms > 2x the previous slot's 200 ms"),
    (dict(p95=0.3, baseline_p95=0.01), "latency", "p95 300 ms > 2x the previous slot's 10 ms and > the 100 ms floor"),
    (dict(backlog_growth=101.0), "backlog", "event backlog grew by 101 since the switch (> 100)"),
    (dict(alerts=["HighErrorRate(question-selection)"]), "alerts", "alerts firing for the slot: HighErrorRate"),
])
def test_a_criterion_over_its_threshold_fails_the_measurement(changes, criterion, text):
    phase, failed, no_data = judge(**changes)
    assert phase == "failed" and no_data == []
    assert [f["criterion"] for f in failed] == [criterion]
    assert text in failed[0]["message"]


@pytest.mark.parametrize("changes", [
    dict(error_ratio=0.05), dict(p95=0.02, baseline_p95=0.01), dict(backlog_growth=100.0),
    # Below the floor a doubling is noise: 30 ms against a 5 ms baseline passes.
    dict(p95=0.03, baseline_p95=0.005), dict(p95=0.1, baseline_p95=0.001),
    # The backlog shrinking is not growth.
    dict(backlog_growth=-500.0),
])
def test_exactly_at_a_threshold_or_below_the_latency_floor_passes(changes):
    assert judge(**changes)[0] == "passed"


@pytest.mark.parametrize("missing", ["error_ratio", "p95", "baseline_p95", "backlog_growth", "alerts"])
def test_no_data_for_any_criterion_is_inconclusive_never_a_pass(missing):
    phase, failed, no_data = judge(**{missing: None})
    assert phase == "inconclusive" and failed == []
    assert len(no_data) == 1 and no_data[0]["message"].startswith("no data")


def test_a_failing_criterion_decides_even_when_another_has_no_data():
    phase, failed, no_data = judge(error_ratio=0.2, p95=None)
    assert phase == "failed"
    assert [f["criterion"] for f in failed] == ["error_ratio"] and [n["criterion"] for n in no_data] == ["latency"]


def test_why_there_is_no_data_is_kept():
    errors = {"error_ratio": "no data: Prometheus at http://127.0.0.1:9090 is unreachable: refused"}
    phase, _failed, no_data = judge(errors, error_ratio=None)
    assert phase == "inconclusive" and "unreachable" in no_data[0]["message"]


# ---- the analysis's decision

def measured(*phases):
    return [dict(phase=p, failed=[], no_data=[], values={}) for p in phases]


@pytest.mark.parametrize("phases, planned, failure_limit, inconclusive_limit, outcome", [
    (["failed"], 10, 0, 0, "failed"),
    (["failed"], 10, 1, 0, None),
    (["failed", "passed", "failed"], 10, 1, 0, "failed"),
    (["failed", "failed", "passed"], 10, 2, 0, None),
    (["inconclusive"], 10, 0, 0, "inconclusive"),
    (["inconclusive", "passed"], 10, 1, 1, None),
    (["inconclusive", "inconclusive"], 10, 3, 1, "inconclusive"),
    (["passed"] * 10, 10, 0, 0, "passed"),
    (["passed", "failed", "passed"], 3, 1, 0, "passed"),
    (["passed", "inconclusive", "passed"], 3, 0, 1, "passed"),
    # Not one measurement passed: inconclusive, however high the limit.
    (["inconclusive"] * 3, 3, 0, 5, "inconclusive"),
    (["failed", "inconclusive"], 2, 1, 1, "inconclusive"),
    # Failures are counted first: failures > failure_limit fails even when inconclusive ones are over theirs too.
    (["inconclusive", "failed"], 10, 0, 0, "failed"),
])
def test_decide_follows_argo(phases, planned, failure_limit, inconclusive_limit, outcome):
    assert analysis.decide(measured(*phases), planned, failure_limit, inconclusive_limit) == outcome


def test_alerts_count_only_when_about_the_slot_and_active_since_the_switch():
    alerts = [
        dict(labels=dict(alertname="HighErrorRate", service="question-selection"), active_since=SWITCH + 5),
        dict(labels=dict(alertname="ServiceDown", service="analysis-worker"), active_since=SWITCH - 60),  # before
        dict(labels=dict(alertname="SlotDown", slot="blue", service="question-selection"), active_since=SWITCH + 5),
        dict(labels=dict(alertname="SlotSlow", slot="green"), active_since=SWITCH + 1),
        dict(labels=dict(alertname="RedisMemoryHigh", service="redis"), active_since=SWITCH + 5),  # not a service
        dict(labels=dict(alertname="HighAICost", service="analysis-worker"), active_since=SWITCH + 5),  # ignored
        dict(labels=dict(alertname="HighErrorRate", service="question-selection"), active_since=None),
    ]
    assert analysis.new_alerts(alerts, "green", SERVICES, SWITCH, ["HighAICost"]) == [
        "HighErrorRate(question-selection)", "SlotSlow(green)"]


def test_queries_measure_the_slot_and_the_baseline_of_the_previous_one():
    q = analysis.queries("green", "blue", "selfology-services", "/api/.*", "10s", "30s", "selfology_outbox_pending")
    assert 'slot="green"' in q["error_ratio"] and 'status=~"5.."' in q["error_ratio"] and "[10s]" in q["error_ratio"]
    assert "or vector(0)" in q["error_ratio"], "no 5xx at all is 0 %, not no data"
    assert q["p95"].startswith("histogram_quantile(0.95") and 'slot="green"' in q["p95"]
    assert 'slot="blue"' in q["baseline_p95"] and "[30s]" in q["baseline_p95"]
    assert 'endpoint=~"/api/.*"' in q["p95"]
    assert q["backlog"] == "max(selfology_outbox_pending)"
    assert "baseline_p95" not in analysis.queries("green", None, "j", "/api/.*", "10s", "30s", "m")
    with pytest.raises(SelfologyError):
        analysis.queries("green", "blue", "j", "/api/.*", "10s", "30s", "not a metric{}")


def test_label_values_are_quoted_for_promql():
    q = analysis.queries("green", "blue", 'a"b\\c', "/api/.*", "10s", "30s", "m")
    assert 'job="a\\"b\\\\c"' in q["p95"]


# ---- the whole loop, on a fake Prometheus and a fake clock

class Clock:
    def __init__(self, start):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


class FakePrometheus:
    """Answers each figure from a function of the time (or raises what it is given)."""

    def __init__(self, figures, alerts=()):
        self.figures, self._alerts, self.asked = figures, list(alerts), []

    def value(self, promql, at=None):
        for key, fn in self.figures.items():
            if promql == self.queries[key]:
                self.asked.append((key, at))
                result = fn(at)
                if isinstance(result, Exception):
                    raise result
                return result
        raise AssertionError(promql)

    def alerts(self, now):
        return self._alerts


def params(**changes):
    base = dict(url="http://127.0.0.1:9090", timeout=5.0, validate_certs=True, alertmanager_url="",
                slot="green", previous_slot="blue", switched_at=str(SWITCH), interval="3s", initial_delay="4s",
                duration="30s", count=None, failure_limit=2, inconclusive_limit=1, max_error_ratio=0.05,
                max_latency_ratio=2.0, latency_floor="100ms", max_backlog_growth=100, window="10s",
                baseline_window="30s", job="selfology-services", endpoints="/api/.*",
                backlog_metric="selfology_outbox_pending", services=SERVICES, ignore_alerts=[])
    base.update(changes)
    return base


def run(figures, alerts=(), **changes):
    p = params(**changes)
    clock = Clock(SWITCH + 2)  # the analysis starts 2 s after the switch
    source = FakePrometheus(figures, alerts)
    source.queries = analysis.plan_of(p, clock())["queries"]
    return analysis.analyse(p, source=source, clock=clock, sleep=clock.sleep), clock, source


HEALTHY = dict(error_ratio=lambda at: 0.0, p95=lambda at: 0.01, baseline_p95=lambda at: 0.009,
               backlog=lambda at: 3.0)


def test_a_healthy_slot_passes_after_every_planned_measurement():
    result, clock, source = run(HEALTHY)
    assert result["outcome"] == "passed" and result["passed"]
    assert result["counts"] == dict(passed=10, failed=0, inconclusive=0, total=10, planned=10)
    # The first after initial_delay, then one every interval: 4 s + 9 x 3 s after the start.
    assert clock.now == SWITCH + 2 + 4 + 27
    assert clock.sleeps == [4.0] + [3.0] * 9
    assert result["message"].startswith("analysis of green passed: 10 of 10 measurements passed")
    # The baseline and the backlog at the switch are read once, at the switch.
    assert source.asked.count(("baseline_p95", SWITCH)) == 1
    assert result["baseline"] == dict(p95=0.009, backlog=3.0)
    assert result["measurements"][0]["since_switch_s"] == 6.0


def test_errors_fail_it_as_soon_as_failures_exceed_the_limit():
    figures = dict(HEALTHY, error_ratio=lambda at: 0.2)
    result, clock, _source = run(figures)
    assert result["outcome"] == "failed" and result["counts"]["total"] == 3  # failure_limit 2: the third decides
    assert clock.now == SWITCH + 2 + 4 + 2 * 3
    assert result["failed_criteria"] == ["error_ratio"]
    assert "3 of 3 measurements failed (failure limit 2): error rate 20.0 % > 5.0 %" in result["message"]
    assert all(m["values"]["error_ratio"] == 0.2 for m in result["measurements"])


def test_latency_fails_it_against_the_previous_slots_p95():
    result, _clock, _source = run(dict(HEALTHY, p95=lambda at: 0.45))
    assert result["outcome"] == "failed" and result["failed_criteria"] == ["latency"]
    assert "p95 450 ms > 2x the previous slot's 9 ms" in result["message"]


def test_a_growing_backlog_fails_it():
    result, _clock, _source = run(dict(HEALTHY, backlog=lambda at: 3.0 if at == SWITCH else 500.0))
    assert result["outcome"] == "failed" and result["failed_criteria"] == ["backlog"]


def test_a_new_alert_about_the_slot_fails_it():
    alerts = [dict(labels=dict(alertname="ErrorRateElevated", service="session-management"), active_since=SWITCH + 1)]
    result, _clock, _source = run(HEALTHY, alerts=alerts)
    assert result["outcome"] == "failed" and "ErrorRateElevated(session-management)" in result["message"]


def test_prometheus_down_is_inconclusive_and_stops_at_the_inconclusive_limit():
    down = BackendUnavailable("Prometheus at http://127.0.0.1:9090 is unreachable: connection refused")

    class Down(FakePrometheus):
        def alerts(self, now):
            raise down

    p = params()
    clock = Clock(SWITCH + 2)
    source = Down({k: (lambda at: down) for k in HEALTHY})
    source.queries = analysis.plan_of(p, clock())["queries"]
    result = analysis.analyse(p, source=source, clock=clock, sleep=clock.sleep)
    assert result["outcome"] == "inconclusive" and not result["passed"]
    assert result["counts"]["inconclusive"] == 2 and result["counts"]["total"] == 2
    assert "2 of 2 measurements had no data (inconclusive limit 1)" in result["message"]
    assert "unreachable" in result["message"]
    assert all(not m["failed"] for m in result["measurements"])


def test_no_traffic_is_inconclusive():
    result, _clock, _source = run(dict(HEALTHY, error_ratio=lambda at: None, p95=lambda at: None))
    assert result["outcome"] == "inconclusive"
    assert "no HTTP API request" in result["message"]


def test_without_a_baseline_no_measurement_can_pass():
    result, _clock, _source = run(dict(HEALTHY, baseline_p95=lambda at: None), inconclusive_limit=100)
    assert result["outcome"] == "inconclusive" and result["counts"]["passed"] == 0
    assert "none of them passed" in result["message"]


def test_the_baseline_is_read_again_until_it_is_known():
    answers = iter([None, 0.009])
    result, _clock, source = run(dict(HEALTHY, baseline_p95=lambda at: next(answers, 0.009)))
    assert [m["phase"] for m in result["measurements"]][:2] == ["inconclusive", "passed"]
    assert result["outcome"] == "passed"
    assert sum(1 for key, _at in source.asked if key == "baseline_p95") == 2


def test_count_instead_of_duration():
    result, _clock, _source = run(HEALTHY, count=2)
    assert result["counts"]["total"] == result["counts"]["planned"] == 2


@pytest.mark.parametrize("changes, text", [
    (dict(interval="3 s"), "interval"),
    (dict(duration="1s"), "duration"),
    (dict(previous_slot="green"), "previous_slot"),
    (dict(max_error_ratio=5.0), "max_error_ratio"),
    (dict(max_latency_ratio=0.5), "max_latency_ratio"),
    (dict(failure_limit=-1), "failure_limit"),
    (dict(endpoints="("), "endpoints"),
    (dict(url="127.0.0.1:9090"), "url"),
    (dict(switched_at="yesterday"), "switched_at"),
    (dict(count=0), "count"),
])
def test_invalid_options_are_refused_before_measuring(changes, text):
    with pytest.raises(SelfologyError, match=text):
        analysis.plan_of(params(**changes), SWITCH)


def test_the_modules_options_are_the_ones_analyse_reads():
    documented = set(params()) - {"url", "timeout", "validate_certs"}
    assert documented == set(rollout_analysis.argument_spec) - {"url", "timeout", "validate_certs"}
