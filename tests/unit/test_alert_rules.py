"""The monitoring role's rules and Alertmanager configuration, checked with Debian's own promtool
(prometheus 2.42) and amtool (alertmanager 0.25), unpacked by scripts/monitoring-tools.sh.

The templates are rendered the way the role's template tasks render them (Ansible's Templar,
trim_blocks on), with the role's defaults, into a temporary directory beside copies of
tests/rules/*.test.yml; `promtool test rules` then runs those unit tests against them.
"""
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleUndefinedVariable
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "monitoring"
RULE_TESTS = sorted((ROOT / "tests" / "rules").glob("*.test.yml"))
RULE_TEMPLATES = ("rules/selfology-recording.yml", "rules/selfology-sla.yml", "rules/selfology-alerts.yml")
TOOLS = ROOT / ".tools" / "bin"

# What the production inventory must give and the defaults cannot (a secret, chat ids).
TELEGRAM = {
    "monitoring_telegram_bot_token": "123456:test-token-not-real",
    "monitoring_telegram_chat_oncall": -1001,
    "monitoring_telegram_chat_secondary": "-1002",
    "monitoring_telegram_chat_manager": -1003,
}


def _defaults():
    """The role's defaults over those of the role it depends on (meta/main.yml: selfology, the topology)."""
    data = {}
    for role in ("selfology", "monitoring"):
        data.update(DataLoader().load_from_file(str(ROOT / "roles" / role / "defaults" / "main.yml")))
    # Role defaults are trusted templates in a play; loaded by hand they must be marked so.
    return {k: trust_as_template(v) if isinstance(v, str) else v for k, v in data.items()}


DEFAULTS = _defaults()
# The topology an inventory gives (the SLA rules have one per service, probed through the load balancer): the lab's.
DEFAULTS.update(selfology_services=yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "selfology" / "topology.yml")
                                                  .read_text())["selfology_services"],
                selfology_lb_url="http://127.0.0.1:8080")

# Short durations like the lab's: every `for`, the escalation delays, Alertmanager's waits.
LAB = {k: "10s" for k in DEFAULTS if k.endswith("_for")}
LAB.update(monitoring_escalation_secondary_after="30s", monitoring_escalation_manager_after="60s",
           monitoring_scrape_interval="5s", monitoring_evaluation_interval="5s")
LAB.update({k: "1s" for k in DEFAULTS if re.match(r"monitoring_alertmanager_.*_group_wait$", k)})
LAB.update({k: "5s" for k in DEFAULTS if re.match(r"monitoring_alertmanager_.*_group_interval$", k)})
# And the lab inventory's own values (token and chat ids included).
LAB_INVENTORY = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in DataLoader().load_from_file(
    str(ROOT / "inventory" / "lab" / "group_vars" / "selfology" / "monitoring.yml")).items()}
VARIANTS = {"defaults": {}, "lab": LAB, "lab-inventory": LAB_INVENTORY}


def render(template, dest, **overrides):
    """Renders roles/monitoring/templates/<template>.j2 to dest as the template module would."""
    variables = dict(DEFAULTS, ansible_managed="Ansible managed (rendered by tests/unit/test_alert_rules.py)")
    variables.update(overrides)
    source = ROLE / "templates" / f"{template}.j2"
    text = Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template(source.read_text()), escape_backslashes=False,
        overrides=dict(trim_blocks=True, lstrip_blocks=False))
    Path(dest).write_text(text)
    return Path(dest)


def tool(name):
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run scripts/monitoring-tools.sh")
    return str(path)


def run(*args, cwd=None):
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def render_rules(directory, **overrides):
    return [render(t, Path(directory) / Path(t).name, **overrides) for t in RULE_TEMPLATES]


def rules_of(path):
    return [r for g in yaml.safe_load(Path(path).read_text())["groups"] for r in g["rules"]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The two rule files rendered with the defaults, beside copies of the promtool tests."""
    directory = tmp_path_factory.mktemp("rules")
    render_rules(directory)
    for test in RULE_TESTS:
        shutil.copy(test, directory / test.name)
    return directory


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    return render("alertmanager.yml", tmp_path_factory.mktemp("am") / "alertmanager.yml", **TELEGRAM)


# ------------------------------------------------------------------------- rules


@pytest.mark.parametrize("values", VARIANTS)
def test_rule_files_pass_promtool_check(tmp_path, values):
    files = render_rules(tmp_path, **VARIANTS[values])
    proc = run(tool("promtool"), "check", "rules", *map(str, files))
    assert proc.returncode == 0, f"promtool check rules failed:\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.count("SUCCESS") == len(files), proc.stdout


def test_promtool_unit_tests_pass(rendered):
    """Every tests/rules/*.test.yml, one promtool per file, side by side (each evaluates every rule
    every 15 s of its series: seconds of CPU, so the files share the cores)."""
    promtool = tool("promtool")
    started = time.monotonic()
    procs = {t.name: subprocess.Popen([promtool, "test", "rules", t.name], cwd=rendered, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for t in RULE_TESTS}
    outputs = {name: proc.communicate(timeout=300)[0] for name, proc in procs.items()}
    elapsed = time.monotonic() - started
    failed = {name: out for name, out in outputs.items() if procs[name].returncode != 0 or "SUCCESS" not in out}
    assert not failed, "promtool test rules failed:\n" + "\n".join(failed.values())
    print(f"promtool test rules: {len(outputs)} files in {elapsed:.2f}s")


def _cases():
    """(test name, alertname, fires) for every alert_rule_test of every promtool test group."""
    for test in RULE_TESTS:
        for group in yaml.safe_load(test.read_text())["tests"]:
            by_alert = {}
            for check in group.get("alert_rule_test", []):
                by_alert.setdefault(check["alertname"], []).append(bool(check.get("exp_alerts")))
            for alertname, fires in by_alert.items():
                yield group["name"], alertname, any(fires)


def test_every_alert_has_a_firing_and_two_silent_cases(rendered):
    """Fires past `for`; silent just below the threshold; silent when shorter than `for`.
    The silent ones are the groups that name the alert and expect it nowhere."""
    alerts = {r["alert"] for r in rules_of(rendered / "selfology-alerts.yml") if "alert" in r}
    cases = list(_cases())
    for alert in sorted(alerts):
        firing = [n for n, a, fires in cases if a == alert and fires]
        silent = [n for n, a, fires in cases if a == alert and not fires and n.split()[0] == alert]
        assert firing, f"{alert}: no promtool case where it fires"
        assert len(silent) >= 2, f"{alert}: {len(silent)} silent case(s), want below-threshold and shorter-than-for"
    # and each firing case shows the alert silent at an earlier evaluation: fires past `for`, not before
    for test in RULE_TESTS:
        for group in yaml.safe_load(test.read_text())["tests"]:
            checks = group.get("alert_rule_test", [])
            for check in checks:
                if check.get("exp_alerts") and group["name"].split()[0] == check["alertname"]:
                    first = min(seconds(c["eval_time"]) for c in checks if c["alertname"] == check["alertname"])
                    earlier = [c for c in checks if c["alertname"] == check["alertname"]
                               and seconds(c["eval_time"]) == first and not c.get("exp_alerts")]
                    assert earlier, f"{test.name}: {group['name']}: no silent evaluation before it fires"


def seconds(duration):
    """A promtool duration such as 1h, 5m45s or 90s, in seconds."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    h, m, s = (int(x or 0) for x in parts.groups())
    return h * 3600 + m * 60 + s


def test_every_recording_rule_has_an_exp_samples_case(rendered):
    records = {r["record"] for name in ("selfology-recording.yml", "selfology-sla.yml") for r in rules_of(rendered / name)}
    tested = {name for test in RULE_TESTS for group in yaml.safe_load(test.read_text())["tests"]
              for check in group.get("promql_expr_test", []) if check.get("exp_samples")
              for name in records if name in check["expr"] and group["name"].split()[0] == name}
    assert tested == records, f"recording rules without an exp_samples case: {sorted(records - tested)}"


def test_alerts_carry_the_contract_labels_and_annotations(rendered):
    for rule in rules_of(rendered / "selfology-alerts.yml"):
        if "alert" not in rule:
            continue
        labels, notes = rule.get("labels", {}), rule.get("annotations", {})
        if rule["alert"].endswith("Escalated"):
            # severity, priority and service come from the escalated alert's ALERTS series
            assert set(labels) == {"escalation"} and labels["escalation"] in ("secondary", "manager")
            assert 'priority="P0"' in rule["expr"] and 'alertstate="firing"' in rule["expr"]
        else:
            assert labels.get("severity") in ("critical", "warning"), rule["alert"]
            assert re.fullmatch(r"P[0-3]", labels.get("priority", "")), rule["alert"]
        assert set(notes) == {"summary", "description", "command"}, rule["alert"]
        assert notes["command"].startswith("selfops "), rule["alert"]
        assert "$value" in notes["description"] or rule["alert"].endswith("Escalated"), rule["alert"]


def test_every_for_and_delay_is_a_variable(tmp_path):
    """Rendered with the lab's short values, no rule keeps a production duration."""
    alerts = render_rules(tmp_path, **LAB)[-1]
    short = set(LAB.values())
    held = {r["alert"]: r.get("for") for r in rules_of(alerts) if "alert" in r}
    assert all(v in short for v in held.values()), {a: v for a, v in held.items() if v not in short}
    escalated = {r["labels"]["escalation"]: r["for"] for r in rules_of(alerts) if "escalation" in r.get("labels", {})}
    assert escalated == {"secondary": "30s", "manager": "60s"}


# ------------------------------------------------------------------------- Alertmanager


@pytest.mark.parametrize("values", VARIANTS)
def test_alertmanager_config_passes_amtool_check(tmp_path, values):
    config = render("alertmanager.yml", tmp_path / "alertmanager.yml", **dict(TELEGRAM, **VARIANTS[values]))
    proc = run(tool("amtool"), "check-config", str(config))
    assert proc.returncode == 0, f"amtool check-config failed:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("variable, value", [
    ("monitoring_telegram_bot_token", ""),
    ("monitoring_telegram_chat_oncall", ""),
    ("monitoring_telegram_chat_secondary", "@secondary"),
    ("monitoring_telegram_chat_manager", None),
])
def test_alertmanager_config_refuses_a_missing_token_or_chat(tmp_path, variable, value):
    with pytest.raises(AnsibleUndefinedVariable, match=variable):
        render("alertmanager.yml", tmp_path / "alertmanager.yml", **dict(TELEGRAM, **{variable: value}))
    assert not (tmp_path / "alertmanager.yml").exists()


def test_the_token_is_only_in_bot_token(alertmanager):
    receivers = [r for r in yaml.safe_load(alertmanager.read_text())["receivers"] if "telegram_configs" in r]
    token = TELEGRAM["monitoring_telegram_bot_token"]
    names = {"telegram-oncall", "telegram-warnings", "telegram-secondary", "telegram-manager"}
    assert {r["name"] for r in receivers} == names
    assert alertmanager.read_text().count(token) == len(receivers)
    for receiver in receivers:
        for telegram in receiver["telegram_configs"]:
            assert telegram["bot_token"] == token and token not in telegram["message"]
            assert telegram["send_resolved"] is True
            assert telegram["api_url"] == "https://api.telegram.org"


@pytest.mark.parametrize("labels, receiver", [
    ({"alertname": "ServiceDown", "severity": "critical", "priority": "P0", "service": "analysis-worker"},
     "telegram-oncall"),
    ({"alertname": "HighErrorRate", "severity": "critical", "priority": "P1", "service": "session-management"},
     "telegram-oncall"),
    ({"alertname": "InstantAnalysisSlow", "severity": "warning", "priority": "P2", "service": "analysis-worker"},
     "telegram-warnings"),
    ({"alertname": "ServiceDownEscalated", "severity": "critical", "priority": "P0", "service": "analysis-worker",
      "escalation": "secondary"}, "telegram-secondary"),
    ({"alertname": "ServiceDownEscalated", "severity": "critical", "priority": "P0", "service": "analysis-worker",
      "escalation": "manager"}, "telegram-manager"),
    # the manager is for P0s only
    ({"alertname": "Other", "severity": "critical", "priority": "P1", "escalation": "manager"}, "telegram-oncall"),
    ({"alertname": "NoSeverity"}, "telegram-oncall"),
])
def test_routes(alertmanager, labels, receiver):
    proc = run(tool("amtool"), "config", "routes", "test", f"--config.file={alertmanager}",
               f"--verify.receivers={receiver}", *(f"{k}={v}" for k, v in labels.items()))
    assert proc.returncode == 0, f"{labels} should reach {receiver}:\n{proc.stdout}{proc.stderr}"


def test_critical_alerts_go_at_once_and_warnings_are_grouped(alertmanager):
    route = yaml.safe_load(alertmanager.read_text())["route"]
    warnings = next(r for r in route["routes"] if r["matchers"] == ['severity="warning"'])
    assert route["group_wait"] == DEFAULTS["monitoring_alertmanager_critical_group_wait"] == "10s"
    assert warnings["group_by"] == ["alertname"] and warnings["group_wait"] == "2m"


def test_service_down_inhibits_that_services_error_rate_alerts(alertmanager):
    rules = yaml.safe_load(alertmanager.read_text())["inhibit_rules"]
    assert {"source_matchers": ['alertname="ServiceDown"'],
            "target_matchers": ['alertname=~"HighErrorRate|ErrorRateElevated"'], "equal": ["service"]} in rules
    assert {"source_matchers": ['alertname="HighErrorRate"'],
            "target_matchers": ['alertname="ErrorRateElevated"'], "equal": ["service"]} in rules


def test_the_message_names_service_severity_priority_summary_command_and_resolved(alertmanager, tmp_path):
    oncall = next(r for r in yaml.safe_load(alertmanager.read_text())["receivers"] if r["name"] == "telegram-oncall")
    message = oncall["telegram_configs"][0]["message"]
    alert = {"labels": {"alertname": "ServiceDown", "service": "analysis-worker", "severity": "critical",
                        "priority": "P0"},
             "annotations": {"summary": "analysis-worker is down", "description": "0% of ... answer",
                             "command": "selfops incident service-down analysis-worker"},
             "startsAt": "2025-10-01T09:00:00Z"}
    escalated = {"labels": dict(alert["labels"], alertname="ServiceDownEscalated", escalation="secondary"),
                 "annotations": dict(alert["annotations"], summary="escalated to the secondary on-call"),
                 "startsAt": "2025-10-01T09:15:00Z"}
    empty = tmp_path / "none.tmpl"   # amtool wants a glob; the message needs no template file
    empty.write_text("")

    def send(*alerts):
        data = tmp_path / "data.json"
        data.write_text(json.dumps({"receiver": "telegram-oncall", "status": alerts[0]["status"],
                                    "alerts": list(alerts), "groupLabels": {}, "commonLabels": {},
                                    "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093"}))
        proc = run(tool("amtool"), "template", "render", f"--template.glob={empty}",
                   f"--template.text={message}", f"--template.data={data}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    firing = send(dict(alert, status="firing"))
    assert firing.splitlines() == [
        "FIRING P0 critical: ServiceDown",
        "service: analysis-worker",
        "analysis-worker is down",
        "0% of ... answer",
        "command: selfops incident service-down analysis-worker",
    ]
    resolved = send(dict(alert, status="resolved", endsAt="2025-10-01T09:20:00Z"),
                    dict(escalated, status="resolved", endsAt="2025-10-01T09:20:00Z"))
    assert resolved.startswith("RESOLVED P0 critical: ServiceDown\n")
    assert "\n\nRESOLVED P0 critical: ServiceDownEscalated (escalation: secondary)\n" in resolved
