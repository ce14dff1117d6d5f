"""The AI cost review's verdict (module_utils/costs.py): figures in, findings and the trend out."""
import pytest

from ansible_collections.selfology.ops.plugins.module_utils.costs import (
    DAY, PREVIOUS_START_SLACK, by_model, previous_start_gap, review)
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

from selfops.checks import render_costs

MIX = {"gpt-4o": 0.75, "gpt-4o-mini": 0.15, "claude": 0.10}
DAY_COST = {"low": 10, "high": 20}
WEEK = {"gpt-4o": 90.004, "gpt-4o-mini": 1.5, "claude": 12.6}
WEEK_CALLS = {"gpt-4o": 7500, "gpt-4o-mini": 1500, "claude": 1000}


def judge(costs, calls, peak=1.0, days=7, previous=None, gap=0.0, max_growth=0.2):
    return review(costs, calls, peak, days, DAY_COST, MIX, 0.2, 10, previous or {}, gap, max_growth)


def test_a_week_as_expected_is_ok_to_the_cent():
    verdict = judge(WEEK, WEEK_CALLS)
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
    verdict = judge({"gpt-4o": 120.0}, {"gpt-4o": 80, "claude": 20}, 10.0, previous={"gpt-4o": 100.0})
    assert verdict["status"] == "ok", verdict["findings"]
    assert verdict["trend"]["change_ratio"] == 0.2


def test_the_trend_gives_the_previous_total_and_each_models_change():
    previous = {"gpt-4o": 78.62, "gpt-4o-mini": 1.5, "claude": 16.53}
    verdict = judge(WEEK, WEEK_CALLS, previous=previous)
    assert verdict["status"] == "ok" and verdict["no_trend_reason"] is None
    trend = verdict["trend"]
    # The change is that of the rounded totals, so the figures shown add up.
    assert trend["previous_total"] == 96.65 and trend["change"] == 7.45 and trend["change_ratio"] == 0.0771
    assert trend["models"] == [
        {"model": "gpt-4o", "previous_cost": 78.62, "cost": 90.0, "change": 11.38, "change_ratio": 0.1447},
        {"model": "gpt-4o-mini", "previous_cost": 1.5, "cost": 1.5, "change": 0.0, "change_ratio": 0.0},
        {"model": "claude", "previous_cost": 16.53, "cost": 12.6, "change": -3.93, "change_ratio": -0.2377},
    ]


def test_growth_over_the_threshold_is_a_warning_and_a_drop_is_not():
    grown = judge({"gpt-4o": 426.29}, {"gpt-4o": 100}, days=30, previous={"gpt-4o": 336.44})
    assert grown["status"] == "warning" and grown["exit_code"] == 1
    assert grown["findings"] == ["the cost grew 26.7 % on the previous 30 day(s), $336.44 to $426.29 (over 20 %)"]
    assert judge({"gpt-4o": 426.29}, {"gpt-4o": 100}, days=30, previous={"gpt-4o": 336.44}, max_growth=0.3)["status"] == "ok"
    dropped = judge({"gpt-4o": 50.0}, {"gpt-4o": 100}, previous={"gpt-4o": 100.0})
    assert dropped["status"] == "ok" and dropped["trend"]["change"] == -50.0 and dropped["trend"]["change_ratio"] == -0.5


def test_a_model_new_or_gone_since_the_previous_period():
    verdict = judge({"gpt-4o": 60.0, "claude": 5.0}, {"gpt-4o": 90, "claude": 10},
                    previous={"gpt-4o": 60.0, "llama": 5.0})
    models = {m["model"]: m for m in verdict["trend"]["models"]}
    assert models["claude"]["change_ratio"] is None and models["claude"]["change"] == 5.0  # new: no percentage
    assert models["llama"] == {"model": "llama", "previous_cost": 5.0, "cost": 0.0, "change": -5.0, "change_ratio": -1.0}
    assert verdict["trend"]["change_ratio"] == 0.0 and verdict["status"] == "ok"


def test_spending_after_a_period_that_cost_nothing_is_a_finding():
    verdict = judge({"gpt-4o": 5.0}, {"gpt-4o": 10}, previous={"gpt-4o": 0.0})
    assert verdict["trend"]["change_ratio"] is None and verdict["status"] == "warning"
    assert verdict["findings"] == ["the cost grew from nothing in the previous 7 day(s) to $5.00"]


@pytest.mark.parametrize("previous, gap, reason", [
    ({}, None, "no cost data in Prometheus for the previous 30 day(s)"),
    ({}, 0.0, "no cost data in Prometheus for the previous 30 day(s)"),
    # Retention that holds 45 of the 60 days: the previous period would read half its cost, a fake +100 %.
    ({"gpt-4o": 200.0}, 15 * DAY, "Prometheus's cost history starts 15.0 days into the previous 30 day(s)"),
    ({"gpt-4o": 390.0}, PREVIOUS_START_SLACK + 1, "starts 1.0 hours into the previous 30 day(s)"),
    ({"gpt-4o": 390.0}, None, "Prometheus holds no cost sample at the start of the previous 30 day(s)"),
])
def test_no_data_for_the_previous_period_is_no_trend_not_a_finding(previous, gap, reason):
    verdict = judge({"gpt-4o": 400.0}, {"gpt-4o": 100}, days=30, previous=previous, gap=gap)
    assert verdict["trend"] is None and reason in verdict["no_trend_reason"]
    assert verdict["status"] == "ok" and verdict["findings"] == []


def test_history_that_starts_within_the_slack_still_gives_a_trend():
    verdict = judge({"gpt-4o": 400.0}, {"gpt-4o": 100}, days=30, previous={"gpt-4o": 390.0}, gap=PREVIOUS_START_SLACK)
    assert verdict["trend"]["previous_total"] == 390.0


def test_the_previous_periods_start_gap_from_the_earliest_sample():
    until = 1_800_000_000.0
    start = until - 2 * 7 * DAY
    assert previous_start_gap({"value": start + 600, "time": until}, 7) == 600
    assert previous_start_gap({"value": start - 120, "time": until}, 7) == 0  # a sample just before the period
    assert previous_start_gap({"value": None, "time": until, "result": []}, 7) is None
    with pytest.raises(SelfologyError, match="cannot read the previous period's first cost sample from Prometheus: refused"):
        previous_start_gap({"failed": True, "msg": "refused"}, 7)


def test_figures_by_model_from_a_prometheus_answer():
    answer = {"result": [{"metric": {"model": "gpt-4o"}, "value": 3.5}, {"metric": {"model": "claude"}, "value": float("nan")},
                         {"metric": {}, "value": 1.0}]}
    assert by_model(answer, "cost") == {"gpt-4o": 3.5}
    with pytest.raises(SelfologyError, match="cannot read the cost from Prometheus: refused"):
        by_model({"failed": True, "msg": "refused"}, "cost")
    with pytest.raises(SelfologyError, match="days must be at least 1"):
        judge({}, {}, days=0)


def test_the_render_shows_the_trend_lines():
    verdict = judge(WEEK, WEEK_CALLS, previous={"gpt-4o": 78.62, "gpt-4o-mini": 1.5, "claude": 16.53, "llama": 2.0})
    text = render_costs("localhost", verdict)
    assert "  Previous 7 days: $98.65, change +$5.45 (+5.5 %) (growth over 20 % is flagged)" in text, text
    assert "+$11.38 (+14.5 %)" in text and "-$3.93 (-23.8 %)" in text and "+$0.00 (+0.0 %)" in text
    assert "llama" in text and "-$2.00 (-100.0 %)" in text
    missing = render_costs("localhost", judge(WEEK, WEEK_CALLS, days=30))
    assert "  Previous 30 days: no trend (no cost data in Prometheus for the previous 30 day(s))" in missing, missing
    assert "change on the previous period" not in missing and "AI costs as expected" in missing
