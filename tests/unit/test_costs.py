"""The AI cost review's verdict (module_utils/costs.py): figures in, findings out."""
import pytest

from ansible_collections.selfology.ops.plugins.module_utils.costs import by_model, review
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

MIX = {"gpt-4o": 0.75, "gpt-4o-mini": 0.15, "claude": 0.10}
DAY = {"low": 10, "high": 20}


def judge(costs, calls, peak=1.0, days=7):
    return review(costs, calls, peak, days, DAY, MIX, 0.2, 10)


def test_a_week_as_expected_is_ok_to_the_cent():
    verdict = judge({"gpt-4o": 90.004, "gpt-4o-mini": 1.5, "claude": 12.6}, {"gpt-4o": 7500, "gpt-4o-mini": 1500, "claude": 1000})
    assert verdict["status"] == "ok" and verdict["exit_code"] == 0 and verdict["findings"] == []
    assert verdict["total"] == 104.1 and verdict["expected"] == {"low": 70.0, "high": 140.0}
    assert [m["model"] for m in verdict["models"]] == ["gpt-4o", "gpt-4o-mini", "claude"]
    assert verdict["models"][2] == {"model": "claude", "cost": 12.6, "calls": 1000, "share": 0.1, "expected_share": 0.1}


@pytest.mark.parametrize("costs, calls, peak, finding", [
    ({"gpt-4o": 150.0}, {"gpt-4o": 100}, 1.0, "above the expected $70.00-140.00"),
    ({"gpt-4o": 50.0, "claude": 40.0}, {"gpt-4o": 70, "claude": 30}, 1.0, "Claude takes 30.0 % of the calls"),
    ({"gpt-4o": 80.0}, {"gpt-4o": 100}, 12.5, "the costliest hour cost $12.50"),
])
def test_each_finding_is_a_warning(costs, calls, peak, finding):
    verdict = judge(costs, calls, peak)
    assert verdict["status"] == "warning" and verdict["exit_code"] == 1
    assert any(finding in f for f in verdict["findings"]), verdict["findings"]


def test_exactly_at_the_limits_is_ok():
    verdict = judge({"gpt-4o": 140.0}, {"gpt-4o": 80, "claude": 20}, 10.0)
    assert verdict["status"] == "ok", verdict["findings"]


def test_figures_by_model_from_a_prometheus_answer():
    answer = {"result": [{"metric": {"model": "gpt-4o"}, "value": 3.5}, {"metric": {"model": "claude"}, "value": float("nan")},
                         {"metric": {}, "value": 1.0}]}
    assert by_model(answer, "cost") == {"gpt-4o": 3.5}
    with pytest.raises(SelfologyError, match="cannot read the cost from Prometheus: refused"):
        by_model({"failed": True, "msg": "refused"}, "cost")
    with pytest.raises(SelfologyError, match="days must be at least 1"):
        judge({}, {}, days=0)
