"""selfops review costs over a week of history written into the lab's Prometheus as real TSDB blocks
(promtool tsdb create-blocks-from openmetrics), so the test does not wait a week."""
import json
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import selfops
from lab import wait_for

pytestmark = pytest.mark.integration
STEP = 300  # seconds between samples
# Calls per step and dollars per call (the lab router's list prices): 15/3/2 is the 75/15/10 mix.
CALLS = {"gpt-4o": 15, "gpt-4o-mini": 3, "claude": 2}
PRICE = {"gpt-4o": 0.003, "gpt-4o-mini": 0.00018, "claude": 0.0042}
DAYS = 7


def openmetrics(start, end):
    """Counters sampled every STEP seconds from start to end (both included), one series per model."""
    lines = []
    for family, per_step in (("ai_cost_usd", {m: CALLS[m] * PRICE[m] for m in CALLS}), ("ai_requests", CALLS)):
        lines.append(f"# TYPE {family} counter")
        for model, increment in per_step.items():
            for i, t in enumerate(range(start, end + 1, STEP)):
                lines.append(f'{family}_total{{model="{model}",source="backfill"}} {i * increment:.6f} {t}')
    return "\n".join(lines + ["# EOF", ""])


def base_image():
    return subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", "selfology-prometheus"],
                          capture_output=True, text=True, check=True).stdout.strip()


def ready():
    try:
        with urllib.request.urlopen("http://127.0.0.1:9090/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def week(lab):
    """A week ending 8 days ago (older than anything the lab's services recorded) backfilled."""
    end = (int(time.time()) // 3600 - 8 * 24) * 3600
    start = end - DAYS * 86400
    with tempfile.TemporaryDirectory(prefix="selfops-backfill-") as work:
        Path(work, "history.om").write_text(openmetrics(start, end))
        subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", f"{work}:/work", base_image(),
                        "promtool", "tsdb", "create-blocks-from", "openmetrics", "/work/history.om", "/work/blocks"],
                       check=True, capture_output=True, timeout=300)
        blocks = [p for p in Path(work, "blocks").iterdir() if p.is_dir()]
        assert blocks, "promtool wrote no block"
        for block in blocks:
            subprocess.run(["docker", "cp", str(block), "selfology-prometheus:/data/"], check=True, timeout=120)
    subprocess.run(["docker", "restart", "selfology-prometheus"], check=True, capture_output=True, timeout=120)
    wait_for(ready, 60, message="Prometheus ready after loading the blocks")
    return end


def test_the_review_gives_to_the_cent_what_the_history_holds(week):
    steps = DAYS * 86400 // STEP
    proc = selfops("review", "costs", "--days", str(DAYS), "--until", str(week), "--json", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    review = json.loads(proc.stdout)["hosts"]["localhost"]
    expected = {m: round(steps * CALLS[m] * PRICE[m], 2) for m in CALLS}
    assert {m["model"]: m["cost"] for m in review["models"]} == expected
    assert {m["model"]: m["calls"] for m in review["models"]} == {m: steps * CALLS[m] for m in CALLS}
    assert {m["model"]: m["share"] for m in review["models"]} == {"gpt-4o": 0.75, "gpt-4o-mini": 0.15, "claude": 0.1}
    assert review["total"] == round(sum(steps * CALLS[m] * PRICE[m] for m in CALLS), 2)
    assert review["status"] == "ok" and review["findings"] == []
    assert review["peak_per_hour"] == round(3600 // STEP * sum(CALLS[m] * PRICE[m] for m in CALLS), 2)

    text = selfops("review", "costs", "--days", str(DAYS), "--until", str(week)).stdout
    assert f"Total: ${review['total']:.2f} (expected $70.00-140.00)" in text, text
    assert "AI costs as expected" in text


def test_claude_above_a_fifth_of_the_calls_is_flagged(week):
    # The last day alone has the same mix: narrow the mix the review expects to make Claude's 10 % a finding.
    proc = selfops("review", "costs", "--days", "1", "--until", str(week), "-e", "checks_costs_claude_max_share=0.05",
                   check=False)
    assert proc.returncode == 1, proc.stdout
    assert "Claude takes 10.0 % of the calls (over 5 %)" in proc.stdout
