"""Runs one playbook through ansible-runner and keeps what its modules returned."""
import os
import shlex
import sys
import tempfile
from dataclasses import dataclass, field

import ansible_runner

from . import collection

RESULT_EVENTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable"}


@dataclass
class TaskResult:
    host: str
    action: str
    task: str
    status: str  # ok, failed or unreachable
    res: dict


@dataclass
class Run:
    rc: int
    status: str
    results: list = field(default_factory=list)

    @property
    def ok(self):
        return self.rc == 0

    def of(self, action):
        """Results of one module, e.g. 'selfology.ops.smoke_test', in the order they ran."""
        return [r for r in self.results if r.action == action]

    def failures(self):
        return [r for r in self.results if r.status != "ok" and not r.res.get("_ansible_ignore_errors")]


def run_playbook(name, extravars=None, inventory=None, extra_vars_args=(), progress=True, check=False):
    results = []

    def on_event(event):
        data = event.get("event_data", {})
        kind = event.get("event")
        if kind == "playbook_on_task_start" and progress:
            print(f"  … {data.get('task')}", file=sys.stderr, flush=True)
        elif kind in RESULT_EVENTS:
            ignored = data.get("ignore_errors") and kind == "runner_on_failed"
            results.append(TaskResult(
                host=data.get("host"), action=data.get("task_action"), task=data.get("task"),
                status="ok" if ignored else RESULT_EVENTS[kind], res=data.get("res") or {}))
        return True

    home = collection.root()
    cmdline = " ".join(f"-e {shlex.quote(v)}" for v in extra_vars_args)
    if check:
        cmdline += " --check --diff"
    with tempfile.TemporaryDirectory(prefix="selfops-") as private:
        result = ansible_runner.run(
            private_data_dir=private,
            playbook=str(collection.playbook(name)),
            inventory=str(inventory or collection.default_inventory()),
            extravars=extravars or {},
            cmdline=cmdline or None,
            envvars={
                # ansible-playbook from the same environment as this command, not whatever PATH finds first.
                "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
                "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
                "ANSIBLE_COLLECTIONS_PATH": str(home / ".collections"),
                "ANSIBLE_ROLES_PATH": str(home / "roles"),
            },
            event_handler=on_event,
            quiet=True,
        )
    return Run(rc=result.rc, status=result.status, results=results)
