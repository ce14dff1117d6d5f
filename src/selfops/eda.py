"""selfops watch: alert-driven incident response. Runs ansible-rulebook with the collection's rulebook
(extensions/eda/rulebooks/selfology_incidents.yml) and its Alertmanager event source, so that a firing
ServiceDown, HighErrorRate or EventProcessingBacklog starts the matching incident playbook with no
person acting. The playbooks decide (the loop guard, the fixes, the audit line, the team message); this
command only starts the rulebook where they find their collection and state, and stops it whole.

Alertmanager posts to it once monitoring_eda_webhook_url is set to the URL printed at start
(selfops monitoring install -e monitoring_eda_webhook_url=...). The bearer token Alertmanager sends
(monitoring_eda_webhook_token) is read from SELFOLOGY_EDA_TOKEN, never from the command line.
"""
import argparse
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from . import collection
from .runner import Interrupted

TOKEN_ENV = "SELFOLOGY_EDA_TOKEN"
DEFAULT_PORT = 5001
# Seconds ansible-rulebook gets to stop its playbook runs on SIGTERM before its processes are killed.
STOP_GRACE = 10.0
RULES = (("ServiceDown", "incident service-down SERVICE"), ("HighErrorRate", "incident error-rate"),
         ("EventProcessingBacklog", "incident backlog"))


def rulebook_path():
    return collection.root() / "extensions" / "eda" / "rulebooks" / "selfology_incidents.yml"


def address_arg(value):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address to listen on, not {value!r}")


def port_arg(value):
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port (1-65535), not {value!r}")
    return int(value)


def add_parsers(sub, common):
    watch = sub.add_parser(
        "watch", parents=[common], help="start incident playbooks from Alertmanager alerts (ansible-rulebook)",
        description="Runs ansible-rulebook with the collection's rulebook: Alertmanager's webhook (payload "
                    "version 4) is received on --host:--port, and a firing ServiceDown, HighErrorRate or "
                    "EventProcessingBacklog starts its incident playbook (one remediation per alert fingerprint "
                    "per window, decided by the playbook). Point Alertmanager at it with "
                    "monitoring_eda_webhook_url. The bearer token is read from $" + TOKEN_ENV + ". Runs until "
                    "stopped (Ctrl-C, SIGTERM).")
    watch.add_argument("--host", type=address_arg, default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; for the lab's Alertmanager, the gateway "
                            "address of its Docker network)")
    watch.add_argument("--port", type=port_arg, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")


def environment(inventory):
    """ansible-rulebook's environment: its playbook runs get a copy of the inventory in a temporary
    project, so they are told where the collection's ansible.cfg is and, for the lab (whose state
    directory is relative to its inventory), where the state is."""
    root = collection.root()
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(root / "ansible.cfg"))
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    if inventory.resolve() == collection.default_inventory().resolve():
        env.setdefault("SELFOLOGY_STATE_DIR", str(root / ".lab" / "state"))
    return env


def command(args, vars_file):
    rulebook = shutil.which("ansible-rulebook", path=os.path.dirname(sys.executable)) or "ansible-rulebook"
    inventory = args.inventory or collection.default_inventory()
    cmd = [rulebook, "--rulebook", str(rulebook_path()), "-i", str(inventory), "--vars", vars_file]
    if args.verbose:
        cmd.append("-" + "v" * min(args.verbose, 2))
    # The kernel stops ansible-rulebook when this command dies, even by SIGKILL (as runner.py does).
    if shutil.which("setpriv"):
        cmd = ["setpriv", "--pdeathsig", "TERM", "--"] + cmd
    return cmd


def descendants(pid):
    """Every living process under pid (ansible-runner starts ansible-playbook in a session of its own)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                text = handle.read()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop(proc, grace=STOP_GRACE):
    """SIGTERM to ansible-rulebook (it cancels its playbook runs); whatever of its tree is left after
    grace seconds is killed. Returns its exit status."""
    tree = descendants(proc.pid)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    finally:
        for pid in [proc.pid] + tree + descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return proc.wait()


def cmd_watch(args):
    if args.extra_vars or args.limit:
        # ansible-rulebook starts the playbooks with the rulebook's variables only.
        print("selfops: watch takes no -e or --limit: set variables in the inventory", file=sys.stderr)
        return 2
    inventory = args.inventory or collection.default_inventory()
    token = os.environ.get(TOKEN_ENV, "")
    url = f"http://{args.host}:{args.port}/alerts"
    with tempfile.TemporaryDirectory(prefix="selfops-watch-") as private:
        vars_file = str(Path(private) / "vars.yml")
        fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump({"selfology_eda_host": args.host, "selfology_eda_port": args.port,
                            "selfology_eda_token": token}, handle)
        if not args.json:
            print(f"Watching Alertmanager's webhook on {url} ({'bearer token from $' + TOKEN_ENV if token else 'no token'})")
            for alert, incident in RULES:
                print(f"  {alert} firing -> selfops {incident}")
            print(f"Point Alertmanager at it: selfops monitoring install -e monitoring_eda_webhook_url={url}", flush=True)
        started = time.monotonic()
        proc = subprocess.Popen(command(args, vars_file), env=environment(inventory), start_new_session=True)
        try:
            code = proc.wait()
        except Interrupted as interrupted:
            try:
                stop(proc)
            except Interrupted:  # a second signal: no more grace
                stop(proc, grace=0)
            print(f"selfops: {interrupted.name} received; ansible-rulebook stopped after "
                  f"{time.monotonic() - started:.0f}s", file=sys.stderr)
            return interrupted.exit_code
        except BaseException:
            stop(proc)
            raise
    if code != 0:
        print(f"selfops: ansible-rulebook exited {code}", file=sys.stderr)
    return 0 if code == 0 else 1


COMMANDS = {"watch": cmd_watch}
