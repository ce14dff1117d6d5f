"""The monitoring role on a production host: a container from the lab's base image stands in for
n8n-server, with Debian's Prometheus and Alertmanager packages running from their packaged
configuration paths. Through inventory/production's monitoring settings and a Docker connection,
the role shows its changes in check mode and writes nothing, then installs onto the running
servers (their reload loads the rules and routes), and a second run changes nothing."""
import json
import subprocess
import time

import docker
import pytest

from lab import ROOT, wait_for

pytestmark = pytest.mark.integration

HOST = "selfology-prod-host"
PLAYBOOK = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(ROOT / "playbooks" / "monitoring.yml")]
SERVERS = {
    "prometheus": "prometheus --config.file=/etc/prometheus/prometheus.yml --web.enable-lifecycle "
                  "--storage.tsdb.path=/var/lib/prometheus/metrics2 --web.listen-address=127.0.0.1:9090",
    "alertmanager": "prometheus-alertmanager --config.file=/etc/prometheus/alertmanager.yml "
                    "--storage.path=/var/lib/prometheus/alertmanager --cluster.listen-address= "
                    "--web.listen-address=127.0.0.1:9093",
}
TOKEN = "100001:production-test-token"


def base_image():
    return subprocess.run([str(ROOT / "lab" / "images" / "build-base.sh")], capture_output=True, text=True,
                          check=True).stdout.strip()


def on_host(container, *argv):
    code, output = container.exec_run(list(argv))
    return code, output.decode()


def http_get(container, url):
    code, output = on_host(container, "python3", "-c",
                           f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())")
    return json.loads(output) if code == 0 else None


def digest(container, path):
    code, output = on_host(container, "sha256sum", path)
    return output.split()[0] if code == 0 else None


@pytest.fixture(scope="module")
def production_host(lab, tmp_path_factory):
    """The stand-in host, its servers started as Debian's units would, and an inventory for it."""
    client = docker.from_env()
    try:
        client.containers.get(HOST).remove(force=True)
    except docker.errors.NotFound:
        pass
    container = client.containers.run(base_image(), ["sleep", "infinity"], name=HOST, detach=True, init=True,
                                      volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock"}})
    for command in SERVERS.values():
        container.exec_run(["sh", "-c", f"{command} >/var/log/$$.log 2>&1"], detach=True)
    wait_for(lambda: http_get(container, "http://127.0.0.1:9090/api/v1/status/buildinfo")
             and http_get(container, "http://127.0.0.1:9093/api/v2/status"), 60, message="the host's servers up")

    inventory = tmp_path_factory.mktemp("production")
    group_vars = inventory / "group_vars" / "selfology"
    group_vars.mkdir(parents=True)
    for name in ("topology.yml", "connection.yml", "monitoring.yml"):
        (group_vars / name).symlink_to(ROOT / "inventory" / "production" / "group_vars" / "selfology" / name)
    # What a vault would hold, and the one setting this host differs in: install the servers.
    (group_vars / "host.yml").write_text(json.dumps({
        "monitoring_install_servers": True,
        "vault_selfology_postgres_password": "unused-by-the-monitoring-role",
        "vault_monitoring_telegram_bot_token": TOKEN,
        "vault_monitoring_telegram_chat_oncall": -2001,
        "vault_monitoring_telegram_chat_secondary": -2002,
        "vault_monitoring_telegram_chat_manager": -2003,
    }))
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"children": {"selfology": {"hosts": {"n8n-server": {
        "ansible_connection": "community.docker.docker", "ansible_host": HOST,
        "ansible_python_interpreter": "/usr/bin/python3", "ansible_pipelining": True}}}}}}))
    yield container, inventory
    container.remove(force=True)


def run(inventory, *args):
    proc = subprocess.run(PLAYBOOK + ["-i", str(inventory), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert TOKEN not in proc.stdout + proc.stderr, "the bot token must never be printed"
    recap = next(line for line in proc.stdout.splitlines() if line.startswith("n8n-server"))
    return proc.stdout, int(recap.split("changed=")[1].split()[0])


def test_check_mode_shows_the_changes_and_writes_nothing(production_host):
    container, inventory = production_host
    before = digest(container, "/etc/prometheus/prometheus.yml"), digest(container, "/etc/prometheus/alertmanager.yml")
    output, changed = run(inventory, "--check", "--diff")
    assert changed > 0
    # The diff of each file: Debian's prometheus.yml replaced, the rules new.
    assert "--- before: /etc/prometheus/prometheus.yml" in output
    assert "changed: [n8n-server] => (item=selfology-alerts.yml)" in output
    assert "+      - alert: ServiceDown" in output
    after = digest(container, "/etc/prometheus/prometheus.yml"), digest(container, "/etc/prometheus/alertmanager.yml")
    assert before == after
    assert on_host(container, "test", "-e", "/etc/prometheus/selfology/rules/selfology-alerts.yml")[0] != 0


def test_it_installs_onto_the_running_servers_and_a_second_run_changes_nothing(production_host):
    container, inventory = production_host
    started = time.monotonic()
    _output, changed = run(inventory)
    installed_in = time.monotonic() - started
    assert changed > 0
    rules = http_get(container, "http://127.0.0.1:9090/api/v1/rules")
    alerts = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"] if rule["type"] == "alerting"}
    assert {"ServiceDown", "HighErrorRate", "EventProcessingBacklog", "InstantAnalysisSlow", "HighAICost",
            "DatabaseDiskSpaceLow"} <= alerts
    status = http_get(container, "http://127.0.0.1:9093/api/v2/status")
    assert "telegram_configs" in status["config"]["original"] and "-2001" in status["config"]["original"]
    assert on_host(container, "stat", "-c", "%a", "/etc/prometheus/alertmanager.yml")[1].strip() == "600"
    assert on_host(container, "test", "-s", "/var/lib/grafana/dashboards/selfology/selfology-overview.json")[0] == 0

    again_started = time.monotonic()
    _output, changed_again = run(inventory)
    print(f"\nproduction host: installed in {installed_in:.1f} s ({changed} changed); "
          f"second run {time.monotonic() - again_started:.1f} s, {changed_again} changed")
    assert changed_again == 0
