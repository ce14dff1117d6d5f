"""Alertmanager's webhook to the alert-driven incident response (monitoring_eda_webhook_url): only when
set, P0/P1 firing alerts to it and on to Telegram, never the escalation copies, the token only in its
authorization; checked with Debian's amtool like the rest of the configuration."""
import pytest
import yaml

from test_alert_rules import LAB_INVENTORY, TELEGRAM, render, run, tool

URL = "http://172.18.0.1:5001/alerts"
TOKEN = "eda-token-not-real"


@pytest.fixture(scope="module")
def with_webhook(tmp_path_factory):
    return render("alertmanager.yml", tmp_path_factory.mktemp("am-eda") / "alertmanager.yml",
                  **dict(TELEGRAM, monitoring_eda_webhook_url=URL, monitoring_eda_webhook_token=TOKEN))


def test_no_url_no_webhook(tmp_path):
    text = render("alertmanager.yml", tmp_path / "alertmanager.yml", **TELEGRAM).read_text()
    assert "eda-webhook" not in text and "webhook_configs" not in text
    assert LAB_INVENTORY.get("monitoring_eda_webhook_url", "") == "", "the lab's Alertmanager would post to a dead webhook"


@pytest.mark.parametrize("token", [TOKEN, ""])
def test_the_configuration_with_the_webhook_passes_amtool(tmp_path, token):
    config = render("alertmanager.yml", tmp_path / "alertmanager.yml",
                    **dict(TELEGRAM, monitoring_eda_webhook_url=URL, monitoring_eda_webhook_token=token))
    proc = run(tool("amtool"), "check-config", str(config))
    assert proc.returncode == 0, f"amtool check-config failed:\n{proc.stdout}{proc.stderr}"
    receiver, = [r for r in yaml.safe_load(config.read_text())["receivers"] if r["name"] == "eda-webhook"]
    webhook, = receiver["webhook_configs"]
    assert webhook["url"] == URL and webhook["send_resolved"] is False and webhook["max_alerts"] == 0
    if token:
        assert webhook["http_config"] == {"authorization": {"type": "Bearer", "credentials": TOKEN}}
        assert config.read_text().count(TOKEN) == 1
    else:
        assert "http_config" not in webhook


@pytest.mark.parametrize("labels, receivers", [
    ({"alertname": "ServiceDown", "severity": "critical", "priority": "P0", "service": "analysis-worker"},
     "eda-webhook,telegram-oncall"),
    ({"alertname": "HighErrorRate", "severity": "critical", "priority": "P1", "service": "session-management"},
     "eda-webhook,telegram-oncall"),
    ({"alertname": "EventProcessingBacklog", "severity": "critical", "priority": "P1", "service": "outbox-relay"},
     "eda-webhook,telegram-oncall"),
    ({"alertname": "InstantAnalysisSlow", "severity": "warning", "priority": "P2"}, "telegram-warnings"),
    ({"alertname": "ServiceDownEscalated", "severity": "critical", "priority": "P0", "service": "analysis-worker",
      "escalation": "secondary"}, "telegram-secondary"),
    ({"alertname": "ServiceDownEscalated", "severity": "critical", "priority": "P0", "service": "analysis-worker",
      "escalation": "manager"}, "telegram-manager"),
])
def test_p0_and_p1_alerts_reach_the_webhook_and_still_telegram(with_webhook, labels, receivers):
    proc = run(tool("amtool"), "config", "routes", "test", f"--config.file={with_webhook}",
               f"--verify.receivers={receivers}", *(f"{k}={v}" for k, v in labels.items()))
    assert proc.returncode == 0, f"{labels} should reach {receivers}:\n{proc.stdout}{proc.stderr}"


def test_the_webhook_route_comes_first_and_continues(with_webhook):
    routes = yaml.safe_load(with_webhook.read_text())["route"]["routes"]
    assert routes[0]["receiver"] == "eda-webhook" and routes[0]["continue"] is True
    assert routes[0]["matchers"] == ['priority=~"P0|P1"', 'escalation=""']


def test_the_matchers_choose_which_alerts_go_to_it(tmp_path):
    only = ['alertname="ServiceDown"', 'service="analysis-worker"', 'escalation=""']
    config = render("alertmanager.yml", tmp_path / "alertmanager.yml", **dict(
        TELEGRAM, monitoring_eda_webhook_url=URL, monitoring_eda_webhook_matchers=only))
    for labels, receivers in [({"alertname": "ServiceDown", "severity": "critical", "priority": "P0",
                                "service": "analysis-worker"}, "eda-webhook,telegram-oncall"),
                              ({"alertname": "HighErrorRate", "severity": "critical", "priority": "P1",
                                "service": "analysis-worker"}, "telegram-oncall")]:
        proc = run(tool("amtool"), "config", "routes", "test", f"--config.file={config}",
                   f"--verify.receivers={receivers}", *(f"{k}={v}" for k, v in labels.items()))
        assert proc.returncode == 0, f"{labels} should reach {receivers}:\n{proc.stdout}{proc.stderr}"
