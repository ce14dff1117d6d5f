"""The Grafana dashboards as code (scripts/dashboards.py -> roles/monitoring/files/dashboards/).

- regenerating them with the pinned grafana-foundation-sdk gives exactly the committed files;
- the five dashboards the runbook names, with stable uids, each panel with a non-empty query,
  every query valid PromQL (promtool check rules on a rule file recording each of them);
- the runbook's thresholds are panel thresholds;
"""
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib

import pytest

from dashboard_queries import DASHBOARDS_DIR, iter_panels, load_dashboards, panel_queries
from lab import ROOT

SCRIPT = ROOT / "scripts" / "dashboards.py"
PROMTOOL = ROOT / ".tools" / "bin" / "promtool"
SDK = "grafana-foundation-sdk"

EXPECTED = {
    "selfology-overview": "Selfology Overview",
    "selfology-event-bus": "Event Bus Health",
    "selfology-ai-costs": "AI Router Costs",
    "selfology-error-rates": "Error Rates",
    "selfology-weekly": "Selfology Weekly",
}


def _script_pin():
    match = re.search(r'^SDK_VERSION = "([^"]+)"$', SCRIPT.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, "scripts/dashboards.py defines no SDK_VERSION"
    return match.group(1)


def _dashboards():
    return {data["uid"]: data for unused_path, data in load_dashboards()}


def _promtool():
    if not PROMTOOL.exists():
        pytest.fail(f"{PROMTOOL.relative_to(ROOT)} is missing: run scripts/monitoring-tools.sh")
    return str(PROMTOOL)


def _check_rules(tmp_path, exprs, name="dashboard-queries"):
    """promtool check rules on a rule file recording each expr; returns the completed process."""
    rules = {"groups": [{"name": "dashboard_queries", "rules": [
        {"record": f"dashboard:query_{index}", "expr": expr} for index, expr in enumerate(exprs)]}]}
    path = tmp_path / f"{name}.rules.yml"
    path.write_text(json.dumps(rules, indent=2), encoding="utf-8")   # JSON is YAML
    return subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_regenerating_gives_the_committed_dashboards():
    pin = _script_pin()
    try:
        installed = importlib.metadata.version(SDK)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{SDK} is not installed in this venv: {sys.executable} -m pip install '{SDK}=={pin}'")
    assert installed == pin, (f"{SDK} {installed} is installed; the dashboards are generated with {pin}: "
                              f"{sys.executable} -m pip install '{SDK}=={pin}'")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, f"dashboards out of date (python scripts/dashboards.py):\n{proc.stderr}"


def test_the_sdk_pin_is_the_projects():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(pyproject.get("dependencies", []))
    for extra in pyproject.get("optional-dependencies", {}).values():
        requirements += extra
    pins = [req for req in requirements if req.replace("_", "-").lower().startswith(SDK)]
    assert pins == [f"{SDK}=={_script_pin()}"], f"pyproject.toml pins {pins}, scripts/dashboards.py {_script_pin()}"


def test_the_files_are_written_deterministically():
    for path, data in load_dashboards():
        expected = json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        assert path.read_text(encoding="utf-8") == expected, path.name
        assert path.name == f"{data['uid']}.json"


def test_the_runbooks_dashboards_with_stable_uids():
    dashboards = _dashboards()
    assert {uid: data["title"] for uid, data in dashboards.items()} == EXPECTED
    for data in dashboards.values():
        assert data["schemaVersion"] >= 39, "a Grafana 11 schema"
        assert "selfology" in data["tags"]


def test_every_panel_has_a_query_and_reads_the_prometheus_datasource_variable():
    for uid, data in _dashboards().items():
        variables = {var["name"]: var for var in data["templating"]["list"]}
        assert variables["DS_PROMETHEUS"]["type"] == "datasource"
        assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
        assert variables["DS_PROMETHEUS"]["current"]["value"] == "selfology-prometheus"
        panels = list(iter_panels(data))
        assert panels, uid
        titles = [panel["title"] for panel in panels]
        assert len(titles) == len(set(titles)), f"{uid}: panel titles repeat: {titles}"
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{uid}: panel ids repeat"
        for panel in panels:
            exprs = [(target.get("expr") or "").strip() for target in panel.get("targets", [])]
            assert exprs and all(exprs), f"{uid} / {panel['title']}: a panel without a query"
            for target in [panel, *panel["targets"]]:
                assert target["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]


def test_every_query_is_plain_promql():
    """No Grafana macro or template variable: the lab's Prometheus and promtool take them as written."""
    for dashboard, panel, expr in panel_queries():
        assert "$" not in expr, f"{dashboard} / {panel}: {expr}"


def test_every_query_parses(tmp_path):
    queries = panel_queries()
    assert len(queries) >= 40
    proc = _check_rules(tmp_path, [query[2] for query in queries])
    failing = []
    if proc.returncode != 0:   # find which ones, one by one
        for index, (dashboard, panel, expr) in enumerate(queries):
            single = _check_rules(tmp_path, [expr], name=f"query-{index}")
            if single.returncode != 0:
                failing.append(f"{dashboard} / {panel}: {expr}\n{single.stdout}{single.stderr}")
    assert proc.returncode == 0 and not failing, "\n".join(failing) or proc.stdout + proc.stderr
    assert f"SUCCESS: {len(queries)} rules found" in proc.stdout


def test_promtool_check_rules_rejects_bad_promql(tmp_path):
    """The parse test above would prove nothing if promtool accepted anything."""
    assert _check_rules(tmp_path, ["sum(rate(http_requests_total[5m])"]).returncode != 0
    assert _check_rules(tmp_path, ['rate(http_requests_total{status=~"5.."})']).returncode != 0


def _steps(panel):
    return [step["value"] for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def _panel(uid, title):
    panels = {panel["title"]: panel for panel in iter_panels(_dashboards()[uid])}
    assert title in panels, f"{uid}: no panel {title!r} (has {sorted(panels)})"
    return panels[title]


@pytest.mark.parametrize("uid, title, steps, unit", [
    ("selfology-event-bus", "Outbox pending", [None, 100, 1000], "short"),            # pending < 100
    ("selfology-overview", "Outbox pending", [None, 100, 1000], "short"),
    ("selfology-ai-costs", "Cost, last 24 h", [None, 10, 20], "currencyUSD"),         # $10-20/day
    ("selfology-ai-costs", "Cost per day (projected)", [None, 10, 20], "currencyUSD"),
    ("selfology-ai-costs", "Cost, last 7 days", [None, 70, 140], "currencyUSD"),       # $70-140/week
    ("selfology-ai-costs", "Cost per hour", [None, 10], "currencyUSD"),                # HighAICost
    ("selfology-ai-costs", "Claude share, last 24 h", [None, 0.2], "percentunit"),     # Claude > 20 %
    ("selfology-error-rates", "Error rate, active slot", [None, 0.01, 0.05, 0.1], "percentunit"),  # < 1 %
    ("selfology-error-rates", "Error rate by service", [None, 0.01, 0.05, 0.1], "percentunit"),
    ("selfology-weekly", "Onboarding completion, 7 days", [None, 0.5], "percentunit"),  # > 50 %
    ("selfology-weekly", "Instant analysis p95, 7 days", [None, 0.5], "s"),            # p95 < 500 ms
])
def test_the_runbooks_thresholds_are_panel_thresholds(uid, title, steps, unit):
    panel = _panel(uid, title)
    assert _steps(panel) == steps
    assert panel["fieldConfig"]["defaults"]["unit"] == unit


def test_the_ai_dashboard_breaks_cost_and_mix_down_by_model():
    for title in ("Cost per hour by model", "Cost by model, last 24 h", "Model mix, last 24 h",
                  "Cost share by model, last 24 h"):
        panel = _panel("selfology-ai-costs", title)
        assert [target["legendFormat"] for target in panel["targets"]] == ["{{model}}"], title


def test_recording_rules_are_used_where_they_exist():
    exprs = "\n".join(query[2] for query in panel_queries())
    for rule in ("selfology:availability:ratio", "selfology:http_error_ratio:rate5m",
                 "selfology:http_request_duration_seconds:p95_5m", "selfology:instant_analysis_duration_seconds:p95_5m",
                 "selfology:events_processed:rate5m", "selfology:ai_cost_usd_per_hour:rate1h"):
        assert rule in exprs, rule


def test_every_dashboard_is_generated():
    assert DASHBOARDS_DIR.is_dir() and len(list(DASHBOARDS_DIR.glob("*.json"))) == len(EXPECTED)
