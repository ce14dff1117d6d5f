"""docs/runbook.md is what `selfops docs runbook` generates from the code (the drift check), every playbook is
run by a documented command, every alert has a handler, and each command runs the playbook the document names
(every command run with the playbook runner stubbed)."""
import argparse
import difflib
import subprocess
import sys
from pathlib import Path

import pytest

from selfops import cli, docs

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "runbook.md"
REGENERATE = "selfops docs runbook --output docs/runbook.md"
# Playbooks no command runs, and why they need no place among the procedures.
NOT_A_PROCEDURE = {
    "lock_release": "selfops runs it itself after it interrupted its own ansible-playbook (cli.after_interrupt), "
                    "to free that run's lock; no operator runs it",
}
# A value each positional argument accepts, to run every command in the stubbed-runner test.
SAMPLE_ARGUMENTS = {"version": "1.2.0", "service": "analysis-worker", "replicas": "2"}


@pytest.fixture(scope="module")
def generated():
    return docs.runbook_markdown(ROOT)


@pytest.fixture(scope="module")
def leaves():
    return docs.commands(cli.build_parser())


@pytest.fixture(scope="module")
def playbooks():
    return docs.PlaybookIndex(ROOT).playbooks


def test_the_committed_runbook_is_what_the_code_gives(generated):
    committed = COMMITTED.read_text() if COMMITTED.exists() else ""
    if committed != generated:
        diff = "".join(list(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                                 "docs/runbook.md (committed)", "generated"))[:80])
        pytest.fail(f"docs/runbook.md differs from the code: regenerate it with `{REGENERATE}`\n{diff}")


def test_the_output_is_the_same_on_every_run(generated):
    assert docs.runbook_markdown(ROOT) == generated


def test_the_command_writes_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(docs, "runbook_markdown", lambda: "# the runbook\n")
    target = tmp_path / "runbook.md"
    args = cli.build_parser().parse_args(["docs", "runbook", "--output", str(target)])
    assert cli.COMMANDS[args.command](args) == 0
    assert target.read_text() == "# the runbook\n"


def test_every_playbook_is_run_by_a_documented_command(leaves, playbooks, generated):
    run = {playbook for command in leaves for _action, playbook in docs.runs(command, playbooks) if playbook}
    imported = {name for playbook in playbooks for name in docs.PlaybookIndex(ROOT).contents(playbook)["imports"]}
    # _bluegreen.yml and the like are imported by the procedures, not procedures themselves.
    missing = [p for p in playbooks if p not in run and p not in NOT_A_PROCEDURE and not (p.startswith("_") and p in imported)]
    assert not missing, f"playbooks no selfops command runs (add the command, or say why in NOT_A_PROCEDURE): {missing}"
    assert set(NOT_A_PROCEDURE) <= set(playbooks), "NOT_A_PROCEDURE names a playbook that no longer exists"
    for playbook in playbooks:
        assert f"`{playbook}.yml`" in generated


def test_every_alert_has_a_handler_or_is_page_only(leaves):
    words = {tuple(c["words"]) for c in leaves} | {tuple(c["words"] + [a]) for c in leaves for a in c["actions"]}
    rules = docs.alerts(ROOT)
    assert len(rules) >= 10, "the rule templates gave almost no alert"
    unhandled = [r["title"] for r in rules if not docs.handling_command(r, words) and r["alert"] not in docs.PAGE_ONLY]
    assert not unhandled, ("alerts whose `command` annotation names no selfops command (fix the annotation, or list "
                           f"the alert in docs.PAGE_ONLY with why it only pages): {unhandled}")
    assert set(docs.PAGE_ONLY) <= {r["alert"] for r in rules}, "PAGE_ONLY names an alert that no longer exists"
    route = docs.alertmanager(ROOT)["route"]
    for rule in rules:
        assert "discard" not in docs.receivers_for(route, rule["fired_labels"]), rule["title"]


def test_every_rulebook_rule_starts_a_playbook_for_an_alert_that_exists(playbooks):
    alerts = {r["alert"] for r in docs.alerts(ROOT)}
    for rule in docs.rulebook_rules(ROOT):
        assert rule["alert"] in alerts and rule["playbook"] in playbooks, rule


def test_the_routes_send_each_kind_of_alert_where_the_config_says():
    route = docs.alertmanager(ROOT)["route"]
    assert docs.receivers_for(route, {"severity": "critical", "priority": "P0"}) == ["eda-webhook", "telegram-oncall"]
    assert docs.receivers_for(route, {"severity": "warning", "priority": "P2"}) == ["telegram-warnings"]
    assert docs.receivers_for(route, {"severity": "critical", "priority": "P0", "escalation": "manager"}) == ["telegram-manager"]
    assert docs.receivers_for(route, {}) == ["telegram-oncall"]  # no route matches: the default receiver


class Ran(Exception):
    """What a command started instead of running it."""


def _argv(command, action):
    """The command's words with a sample value for each required positional."""
    argv = list(command["words"]) + ([action] if action else [])
    for argument in command["parser"]._actions:
        if argument.option_strings or argument.choices or isinstance(argument, argparse._SubParsersAction):
            continue
        if argument.nargs not in ("?", "*"):
            assert argument.dest in SAMPLE_ARGUMENTS, f"add a sample value of {argument.dest} to SAMPLE_ARGUMENTS"
            argv.append(SAMPLE_ARGUMENTS[argument.dest])
    return argv


def test_each_command_runs_the_playbook_the_document_names(leaves, playbooks, monkeypatch):
    def run_playbook(playbook, *_args, **_kwargs):
        raise Ran(f"playbook {playbook}")

    def popen(cmd, *_args, **_kwargs):
        raise Ran(f"process {Path(cmd[cmd.index('--rulebook') + 1]).name if '--rulebook' in cmd else cmd[0]}")

    for module in [m for name, m in sys.modules.items() if name.startswith("selfops.") and hasattr(m, "run_playbook")]:
        monkeypatch.setattr(module, "run_playbook", run_playbook)
    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(docs, "runbook_markdown", lambda: "")
    for command in leaves:
        for action, playbook in docs.runs(command, playbooks):
            args = cli.build_parser().parse_args(_argv(command, action))
            try:
                cli.COMMANDS[args.command](args)
                started = None
            except Ran as ran:
                started = str(ran)
            name = " ".join(command["words"] + ([action] if action else []))
            if playbook:
                assert started == f"playbook {playbook}", f"selfops {name}: the document says {playbook}.yml, it ran {started}"
            else:
                assert started in (None, f"process {docs.RULEBOOK.name}"), f"selfops {name} ran {started}"
