"""The lab's addresses, read from its inventory, and helpers that run our modules for real."""
import contextlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import ansible_runner
import docker
import yaml

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventory" / "lab"
_VARS = yaml.safe_load((INVENTORY / "group_vars" / "selfology" / "connection.yml").read_text())
_TOPOLOGY = yaml.safe_load((INVENTORY / "group_vars" / "selfology" / "topology.yml").read_text())

PG = dict(
    login_host=_VARS["selfology_postgres_host"], login_port=_VARS["selfology_postgres_port"],
    login_user=_VARS["selfology_postgres_user"], login_password=_VARS["selfology_postgres_password"],
    login_db=_VARS["selfology_postgres_db"],
)
REDIS = dict(redis_host=_VARS["selfology_redis_host"], redis_port=_VARS["selfology_redis_port"])
LB_URL = _VARS["selfology_lb_url"]
SERVICES = _TOPOLOGY["selfology_services"]
PORT_BASE = _TOPOLOGY["selfology_slot_port_base"]
STATE_FILE = ROOT / ".lab" / "state" / "slots.json"


def pg_dsn(dbname=None):
    return "host={login_host} port={login_port} user={login_user} password={login_password} dbname={db}".format(
        db=dbname or PG["login_db"], **PG)


def slot_endpoints(slot):
    return [dict({"name": s["name"], "port": PORT_BASE[slot] + s["port"]}, **({"probe": s["probe"]} if "probe" in s else {}))
            for s in SERVICES]


def _env():
    return {
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }


def run_playbook(playbook, extravars=None, check=False):
    """Runs a playbook of the collection against the lab; returns (rc, stats)."""
    with tempfile.TemporaryDirectory(prefix="selfops-test-") as private:
        result = ansible_runner.run(
            private_data_dir=private, playbook=str(playbook), inventory=str(INVENTORY),
            extravars=extravars or {}, envvars=_env(), quiet=True,
            cmdline="--check --diff" if check else None,
        )
        # Read while the artifacts still exist: stats come from the run's event files.
        return result.rc, result.stats


def run_module(module, args, check=False):
    """Runs one module through Ansible on localhost, as a playbook task would; returns its result."""
    task = {"name": "module under test", module: args, "register": "result", "ignore_errors": True}
    play = [{"hosts": "selfology", "gather_facts": False, "tasks": [task]}]
    results = []
    with tempfile.TemporaryDirectory(prefix="selfops-test-") as private:
        path = Path(private) / "play.yml"
        path.write_text(json.dumps(play))

        def keep(event):
            if event.get("event") in ("runner_on_ok", "runner_on_failed"):
                # The failed event's result does not always carry 'failed' (ansible-core 2.19).
                results.append(dict(event["event_data"]["res"], failed=event["event"] == "runner_on_failed"))

        ansible_runner.run(
            private_data_dir=private, playbook=str(path), inventory=str(INVENTORY), envvars=_env(),
            extravars={}, quiet=True, event_handler=lambda e: keep(e) or True,
            cmdline="--check --diff" if check else None,
        )
    assert results, f"{module} produced no result"
    return results[-1]


def wait_for(predicate, timeout, interval=0.2, message="condition"):
    """Polls predicate until it returns something true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s")


class _BotAPIHandler(http.server.BaseHTTPRequestHandler):
    """Answers sendMessage as the Telegram Bot API does (the real one is out of reach here)."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(dict(path=self.path, body=json.loads(body),
                                         content_type=self.headers["Content-Type"]))
        status, answer = self.server.answer
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def bot_api_stand_in(message_id=77):
    """A local Bot API stand-in on 127.0.0.1: set .answer, read .requests, point api_url at .url."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BotAPIHandler)
    server.requests = []
    server.answer = (200, {"ok": True, "result": {"message_id": message_id, "chat": {"id": -100123}}})
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()


def running_relays():
    return docker.from_env().containers.list(filters={"label": "org.selfology.service=outbox-relay", "status": "running"})


@contextlib.contextmanager
def relays_stopped_with_backlog(pg, count, event_type):
    """Every running outbox relay stopped and count pending rows of event_type written; the relays
    are started again on leaving, and awaited until healthy (the backlog is the caller's to wait for
    and delete)."""
    stopped = []
    try:
        for relay in running_relays():
            relay.stop(timeout=5)
            stopped.append(relay)
        assert stopped, "no outbox relay was running"
        pg.execute("""INSERT INTO selfology.event_outbox (event_type, payload)
                      SELECT %s, jsonb_build_object('n', g) FROM generate_series(1, %s) g""", [event_type, count])
        yield stopped
    finally:
        started = []
        for relay in stopped:
            try:
                relay.start()
                started.append(relay.name)
            except docker.errors.NotFound:  # another session removed its slot meanwhile
                pass
        client = docker.from_env()
        wait_for(lambda: all(client.containers.get(name).health == "healthy" for name in started), 60,
                 message=f"{', '.join(started)} healthy again")


def drain_backlog(pg, event_type):
    """Waits until the relays published every row of event_type, then deletes them."""
    wait_for(lambda: pg.execute("SELECT count(*) FROM selfology.event_outbox WHERE event_type = %s AND status = "
                                "'pending'", [event_type]).fetchone()[0] == 0, 90, message="the backlog published")
    pg.execute("DELETE FROM selfology.event_outbox WHERE event_type = %s", [event_type])


PROMETHEUS_CONTAINER = "selfology-prometheus"
PROMETHEUS_URL = "http://127.0.0.1:9090"
# Run in Prometheus's own image on its data volume while it is stopped: the blocks overlapping the window
# (an earlier run's of the same test) are removed, the history read from stdin is written as blocks of up to
# a month (promtool's --max-block-duration; its default splits a month into many small ones) and moved in.
_LOAD_HISTORY = """set -eu
cd /data
promtool tsdb list /data | awk -v lo="$1" -v hi="$2" 'NR > 1 && $2 < hi && $3 > lo {print $1}' | xargs -r rm -rf
rm -rf .backfill && mkdir .backfill
cat > .backfill/history.om
promtool tsdb create-blocks-from openmetrics --max-block-duration=744h -q .backfill/history.om .backfill/blocks
mv .backfill/blocks/* /data/
rm -rf .backfill
"""


def prometheus_ready():
    try:
        with urllib.request.urlopen(f"{PROMETHEUS_URL}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _prometheus_container(fmt):
    return subprocess.run(["docker", "inspect", "-f", fmt, PROMETHEUS_CONTAINER],
                          capture_output=True, text=True, check=True).stdout.strip()


def backfill_prometheus(openmetrics, start, end):
    """Writes OpenMetrics history covering [start, end) (Unix seconds) into the lab Prometheus's TSDB as real
    blocks (promtool tsdb create-blocks-from openmetrics), so a test does not wait for the history it needs."""
    image = _prometheus_container("{{.Config.Image}}")
    volume = _prometheus_container('{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}')
    assert volume, "Prometheus keeps its data in no volume"
    subprocess.run(["docker", "stop", PROMETHEUS_CONTAINER], check=True, capture_output=True, timeout=120)
    try:
        subprocess.run(["docker", "run", "--rm", "-i", "--network", "none", "-v", f"{volume}:/data", image,
                        "sh", "-c", _LOAD_HISTORY, "load-history", str(int(start) * 1000), str(int(end) * 1000)],
                       input=openmetrics, text=True, check=True, capture_output=True, timeout=300)
    finally:
        subprocess.run(["docker", "start", PROMETHEUS_CONTAINER], check=True, capture_output=True, timeout=120)
    wait_for(prometheus_ready, 60, message="Prometheus ready after loading the blocks")
