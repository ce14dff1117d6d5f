"""selfops review costs over two weeks of history written into the lab's Prometheus as real TSDB blocks
(promtool tsdb create-blocks-from openmetrics), so the test does not wait two weeks: the reviewed week and
the week before it, with a known growth between them.

Why two weeks and not 2 x 30 days: the lab's Prometheus keeps 30 days (lab_prometheus_retention), which
cannot hold a 30-day window and the 30 days before it; and promtool writes one block per 2 hours whatever
the sampling, so its time grows with the span (60 days took it most of a minute here, hourly samples a
third of that). The 30-day review is run too, over this history: its previous period has no data, which
must give no trend, not a finding and not a fake 0 %."""
import json
import time

import pytest

from conftest import selfops
from lab import backfill_prometheus

pytestmark = pytest.mark.integration
STEP = 300  # seconds between samples
DAY = 86400
# Calls per step and dollars per call (the lab router's list prices): 15/3/2 is the 75/15/10 mix.
CALLS = {"gpt-4o": 15, "gpt-4o-mini": 3, "claude": 2}
PRICE = {"gpt-4o": 0.003, "gpt-4o-mini": 0.00018, "claude": 0.0042}
# The week before: two GPT-4o calls fewer a step, so the total grew 12.5 % (under the 20 % flagged).
PREVIOUS_CALLS = {"gpt-4o": 13, "gpt-4o-mini": 3, "claude": 2}
DAYS = 7
# In the Prometheus data volume, with Prometheus stopped: remove the blocks entirely older than the cutoff
# ($1, Unix ms: only earlier runs' backfill is that old, the lab's own data is younger), so a kept lab gives
# the same figures on every run; then turn the OpenMetrics on stdin into blocks and move them in.


def cost(calls, days=DAYS):
    """The cost in USD of `days` days at `calls` per step, unrounded."""
    return sum(days * DAY // STEP * calls[m] * PRICE[m] for m in calls)


def openmetrics(start, end):
    """Counters sampled every STEP seconds from start to end (both included), one series per model: the
    previous week at PREVIOUS_CALLS a step, the reviewed week (from end - DAYS days) at CALLS."""
    boundary = end - DAYS * DAY
    lines = []
    for family, price in (("ai_cost_usd", PRICE), ("ai_requests", {m: 1 for m in CALLS})):
        lines.append(f"# TYPE {family} counter")
        for model in CALLS:
            total = 0.0
            for t in range(start, end + 1, STEP):
                lines.append(f'{family}_total{{model="{model}",source="backfill"}} {total:.6f} {t}')
                total += (CALLS if t >= boundary else PREVIOUS_CALLS)[model] * price[model]
    return "\n".join(lines + ["# EOF", ""])


@pytest.fixture(scope="module")
def history(lab):
    """Two weeks ending 8 days ago at midnight UTC (older than anything the lab's services recorded; the same
    on every run of a day) backfilled; returns their end."""
    end = (int(time.time()) // DAY - 8) * DAY
    backfill_prometheus(openmetrics(end - 2 * DAYS * DAY, end), end - 2 * DAYS * DAY, end + DAY)
    return end


def review_json(*args):
    proc = selfops("review", "costs", *args, "--json", check=False)
    return proc.returncode, json.loads(proc.stdout)["hosts"]["localhost"]


def test_the_review_gives_to_the_cent_what_the_history_holds(history):
    steps = DAYS * DAY // STEP
    code, review = review_json("--days", str(DAYS), "--until", str(history))
    assert code == 0, review
    expected = {m: round(steps * CALLS[m] * PRICE[m], 2) for m in CALLS}
    assert {m["model"]: m["cost"] for m in review["models"]} == expected
    assert {m["model"]: m["calls"] for m in review["models"]} == {m: steps * CALLS[m] for m in CALLS}
    assert {m["model"]: m["share"] for m in review["models"]} == {"gpt-4o": 0.75, "gpt-4o-mini": 0.15, "claude": 0.1}
    assert review["total"] == round(cost(CALLS), 2)
    assert review["status"] == "ok" and review["findings"] == []
    assert review["peak_per_hour"] == round(3600 // STEP * sum(CALLS[m] * PRICE[m] for m in CALLS), 2)

    # The trend: the week before, to the cent, and the change of the rounded totals (12.5 %, not flagged).
    trend, previous = review["trend"], round(cost(PREVIOUS_CALLS), 2)
    assert review["no_trend_reason"] is None
    assert trend["previous_total"] == previous
    assert trend["change"] == round(review["total"] - previous, 2)
    assert trend["change_ratio"] == round((review["total"] - previous) / previous, 4) == 0.1251
    changes = {m["model"]: (m["previous_cost"], m["change"]) for m in trend["models"]}
    assert changes == {m: (round(steps * PREVIOUS_CALLS[m] * PRICE[m], 2),
                           round(expected[m] - round(steps * PREVIOUS_CALLS[m] * PRICE[m], 2), 2)) for m in CALLS}
    assert changes["gpt-4o"][1] == 12.1 and changes["claude"][1] == 0

    text = selfops("review", "costs", "--days", str(DAYS), "--until", str(history)).stdout
    assert f"Total: ${review['total']:.2f} (expected $70.00-140.00)" in text, text
    assert f"Previous 7 days: ${previous:.2f}, change +${trend['change']:.2f} (+12.5 %)" in text, text
    assert "+$12.10 (+15.4 %)" in text, text
    assert "AI costs as expected" in text


def test_growth_over_the_threshold_is_a_finding(history):
    proc = selfops("review", "costs", "--days", str(DAYS), "--until", str(history),
                   "-e", "checks_costs_max_growth=0.1", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (f"the cost grew 12.5 % on the previous 7 day(s), ${cost(PREVIOUS_CALLS):.2f} to ${cost(CALLS):.2f} "
            "(over 10 %)") in proc.stdout, proc.stdout


def test_claude_above_a_fifth_of_the_calls_is_flagged(history):
    # The last day alone has the same mix: narrow the mix the review expects to make Claude's 10 % a finding.
    proc = selfops("review", "costs", "--days", "1", "--until", str(history), "-e", "checks_costs_claude_max_share=0.05",
                   check=False)
    assert proc.returncode == 1, proc.stdout
    assert "Claude takes 10.0 % of the calls (over 5 %)" in proc.stdout


def test_history_that_does_not_cover_the_previous_period_gives_no_trend(history):
    # The monthly review: the 30 days before hold no sample at all.
    code, month = review_json("--days", "30", "--until", str(history))
    assert code == 0 and month["status"] == "ok" and month["findings"] == [], month
    assert month["trend"] is None
    assert month["no_trend_reason"] == "no cost data in Prometheus for the previous 30 day(s)"
    assert month["total"] == round(cost(CALLS) + cost(PREVIOUS_CALLS), 2)  # both weeks, nothing extrapolated
    # 10 days: the history starts 6 days into the previous period, whose increase() would read 4 days' cost
    # (a fake +170 %), so there is no trend either.
    code, partial = review_json("--days", "10", "--until", str(history))
    assert code == 0 and partial["trend"] is None and partial["findings"] == [], partial
    assert partial["no_trend_reason"].startswith("Prometheus's cost history starts 6.0 days into the previous 10 day(s)")
    text = selfops("review", "costs", "--days", "30", "--until", str(history)).stdout
    assert "Previous 30 days: no trend (no cost data in Prometheus for the previous 30 day(s))" in text, text
