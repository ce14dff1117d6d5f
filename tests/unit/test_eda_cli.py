"""selfops watch: ansible-rulebook started with the collection's rulebook where its playbooks find the
collection and the lab's state, the token only in a private variables file, stopped with its tree."""
import argparse
import os
import stat
import subprocess
import sys
import time

import pytest
import yaml

from selfops import cli, collection, eda
from selfops.runner import Interrupted


def parser():
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    cli.add_common(common)
    sub = parser.add_subparsers(dest="command")
    eda.add_parsers(sub, common)
    return parser


def test_defaults_and_refused_values(capsys):
    args = parser().parse_args(["watch"])
    assert (args.host, args.port, args.inventory) == ("127.0.0.1", 5001, None)
    assert parser().parse_args(["watch", "--host", "172.18.0.1", "--port", "5055"]).port == 5055
    for bad in (["--host", "localhost"], ["--host", "0.0.0.0/8"], ["--port", "0"], ["--port", "x"]):
        with pytest.raises(SystemExit):
            parser().parse_args(["watch", *bad])
    assert eda.cmd_watch(parser().parse_args(["watch", "-e", "a=1"])) == 2
    assert "no -e" in capsys.readouterr().err


def test_the_rulebook_runs_where_the_playbooks_find_the_collection_and_the_lab_state(monkeypatch):
    monkeypatch.delenv("SELFOLOGY_STATE_DIR", raising=False)
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    root = collection.root()
    env = eda.environment(collection.default_inventory())
    assert env["ANSIBLE_CONFIG"] == str(root / "ansible.cfg")
    assert env["SELFOLOGY_STATE_DIR"] == str(root / ".lab" / "state")
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert "SELFOLOGY_STATE_DIR" not in eda.environment(root / "inventory" / "production")
    monkeypatch.setenv("SELFOLOGY_STATE_DIR", "/srv/state")
    assert eda.environment(collection.default_inventory())["SELFOLOGY_STATE_DIR"] == "/srv/state"


def test_the_command_names_the_rulebook_the_inventory_and_the_variables():
    args = parser().parse_args(["watch", "-i", "inventory/production", "-vvv"])
    cmd = eda.command(args, "/tmp/x/vars.yml")
    rulebook = cmd[cmd.index("--rulebook") + 1]
    assert rulebook == str(root_rulebook()) and os.path.exists(rulebook)
    assert cmd[cmd.index("-i") + 1] == "inventory/production" and cmd[cmd.index("--vars") + 1] == "/tmp/x/vars.yml"
    assert cmd[-1] == "-vv" and cmd[0] in ("setpriv", os.path.join(os.path.dirname(sys.executable), "ansible-rulebook"))


def root_rulebook():
    return collection.root() / "extensions" / "eda" / "rulebooks" / "selfology_incidents.yml"


def test_the_token_goes_to_a_private_vars_file_not_the_command_line(monkeypatch, capsys):
    monkeypatch.setenv(eda.TOKEN_ENV, "tok-not-real")
    seen = {}

    class Done:
        pid = 0

        def __init__(self, cmd, env, start_new_session):
            vars_file = cmd[cmd.index("--vars") + 1]
            seen.update(cmd=cmd, start_new_session=start_new_session, mode=stat.S_IMODE(os.stat(vars_file).st_mode),
                        vars=yaml.safe_load(open(vars_file)))

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(eda.subprocess, "Popen", Done)
    assert eda.cmd_watch(parser().parse_args(["watch", "--host", "172.18.0.1", "--port", "5055"])) == 0
    assert seen["vars"] == {"selfology_eda_host": "172.18.0.1", "selfology_eda_port": 5055,
                            "selfology_eda_token": "tok-not-real"}
    assert seen["mode"] == 0o600 and seen["start_new_session"]
    assert not any("tok-not-real" in part for part in seen["cmd"])
    out = capsys.readouterr().out
    assert "http://172.18.0.1:5055/alerts" in out and "tok-not-real" not in out


def test_a_signal_stops_ansible_rulebook_and_everything_under_it(monkeypatch, tmp_path):
    # A stand-in for ansible-rulebook: a shell that ignores SIGTERM, with a child in a session of its own
    # (as ansible-runner starts ansible-playbook).
    pidfile = tmp_path / "child.pid"
    script = f"trap '' TERM; setsid sleep 300 & echo $! > {pidfile}; wait"
    proc = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    for _attempt in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        time.sleep(0.02)
    child = int(pidfile.read_text())
    assert child in eda.descendants(proc.pid)
    started = time.monotonic()
    eda.stop(proc, grace=0.5)
    assert time.monotonic() - started < 5
    time.sleep(0.1)
    assert not os.path.exists(f"/proc/{child}") or open(f"/proc/{child}/stat").read().split(")")[1].split()[0] == "Z"


def test_interrupted_returns_the_signal_exit_code(monkeypatch):
    stopped = []

    class Waits:
        pid = 0

        def __init__(self, *args, **kwargs):
            pass

        def wait(self, timeout=None):
            raise Interrupted(15)

    monkeypatch.setattr(eda.subprocess, "Popen", Waits)
    monkeypatch.setattr(eda, "stop", stopped.append)
    assert eda.cmd_watch(parser().parse_args(["watch", "-q"])) == 143 and len(stopped) == 1
