"""Runs one playbook through ansible-runner and keeps what its modules returned.

Signals: ansible-runner starts ansible-playbook in a session of its own (pexpect), so a Ctrl-C on
the terminal never reaches it, and pexpect makes it ignore SIGHUP. Its task workers each call
setsid() as well (ansible-core's WorkerProcess._detach), so a module a worker runs is in the
worker's group, not in ansible-playbook's: that is how a task went on after its playbook was
stopped. While a playbook runs, SIGINT, SIGTERM and SIGHUP sent to selfops are forwarded to
ansible-playbook's process group and to the group of every process under it (SIGHUP as SIGTERM,
which they do not ignore): ansible-playbook stops at its current task, and the task's worker and
module process stop with it. Whatever of these groups is still alive STOP_GRACE seconds later (or
at once, on a second signal) is killed. run_playbook then raises Interrupted, naming the
ansible-playbook process that was stopped, so that the command can release that run's lock through
the collection and show the state it left.
"""
import os
import shlex
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import ansible_runner
import ptyprocess

from . import collection

RESULT_EVENTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable"}
# Exit status of a command stopped by a signal: 128 + the signal's number, as a shell reports it.
SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
# What ansible-playbook's group gets: SIGHUP is ignored there (pexpect's ignore_sighup).
FORWARDED = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGHUP: signal.SIGTERM}
# Seconds ansible-playbook gets to stop at its current task before its process group is killed.
STOP_GRACE = 10.0
_POLL = 0.05
# Seconds killed processes get to be reaped (they count as alive until then).
_REAP_GRACE = 5.0


class Interrupted(Exception):
    """A signal stopped the command; pid is the ansible-playbook that was stopped (None when none ran)."""

    def __init__(self, signum, pid=None, seconds=None, killed=False):
        super().__init__(signal.Signals(signum).name)
        self.signum, self.pid, self.seconds, self.killed = signum, pid, seconds, killed

    @property
    def exit_code(self):
        return SIGNALS.get(self.signum, 128 + self.signum)

    @property
    def name(self):
        return signal.Signals(self.signum).name


class _Signals:
    """The command's handler of SIGINT, SIGTERM and SIGHUP: records them; when no playbook runs,
    raises Interrupted at once."""

    def __init__(self):
        self.received = []
        self.supervising = False
        self.installed = False

    def handler(self, signum, frame):
        del frame
        self.received.append(signum)
        if not self.supervising:
            raise Interrupted(signum)

    def install(self):
        if self.installed or threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            signal.signal(signum, self.handler)
        self.installed = True


SIGNAL_STATE = _Signals()


def install_signal_handlers():
    """Called once by the command: from now on a signal stops the command through Interrupted."""
    SIGNAL_STATE.install()


def _stat(pid):
    """(ppid, pgrp, session) of a living process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[2]), int(fields[3])


def _session_children():
    """Pids of this process's children that lead a session of their own: the pexpect child, which is
    ansible-playbook once it has exec'd."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(entry)
            if stat and stat[0] == os.getpid() and stat[2] == int(entry):
                found.append(int(entry))
    return found


def _groups_under(pid):
    """The process groups of pid and of every living process under it."""
    children, stats = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(entry)
            if stat:
                stats[int(entry)] = stat
                children.setdefault(stat[0], []).append(int(entry))
    groups, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            groups.add(stats[current][1])
        todo.extend(children.get(current, []))
    groups.discard(os.getpgrp())  # never this command's own group
    return groups


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


class _Stopper:
    """Stops one ansible-playbook and every process group under it."""

    def __init__(self, signum):
        self.signum, self.started = signum, time.monotonic()
        self.pid, self.groups, self.killed = None, set(), False

    def forward(self):
        """Sends the signal to every group under the playbook not signalled yet."""
        found = _groups_under(self.pid) | {self.pid}
        for pgid in sorted(found - self.groups):
            _signal_group(pgid, signal.SIGKILL if self.killed else FORWARDED[self.signum])
        self.groups |= found

    def kill(self):
        self.killed = True
        if _group_alive(self.pid):
            self.groups |= _groups_under(self.pid)
        for pgid in self.groups:
            _signal_group(pgid, signal.SIGKILL)

    def alive(self):
        return any(_group_alive(pgid) for pgid in self.groups)


def _supervise(thread, known_pid):
    """Waits for the runner thread; on a signal, stops ansible-playbook and everything under it (see the
    module's doc). Returns None when no signal came, else Interrupted."""
    state = SIGNAL_STATE
    if not state.installed:  # used as a library from another thread: nothing to forward
        thread.join()
        return None
    state.received.clear()
    state.supervising = True
    stopper = None
    try:
        while thread.is_alive() or (stopper and stopper.pid and stopper.alive()
                                    and time.monotonic() - stopper.started < STOP_GRACE + _REAP_GRACE):
            thread.join(_POLL)
            if state.received and stopper is None:
                stopper = _Stopper(state.received[0])
            if stopper is None:
                continue
            if stopper.pid is None:
                stopper.pid = known_pid() or next(iter(_session_children()), None)
                if stopper.pid is None:
                    if not thread.is_alive():
                        break
                    continue
            if thread.is_alive():
                stopper.forward()
            late = len(state.received) > 1 or time.monotonic() - stopper.started > STOP_GRACE
            if (late or not thread.is_alive()) and stopper.alive():
                # too late, or ansible-playbook is gone and left something behind (a worker, a module)
                stopper.kill()
    finally:
        state.supervising = False
    if stopper is None:
        return None
    thread.join()
    return Interrupted(stopper.signum, stopper.pid, time.monotonic() - stopper.started, stopper.killed)


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
    # What the play reported with set_stats (the playbook_on_stats event's artifact_data).
    stats: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.rc == 0

    def of(self, action):
        """Results of one module, e.g. 'selfology.ops.smoke_test', in the order they ran."""
        return [r for r in self.results if r.action == action]

    def failures(self):
        return [r for r in self.results if r.status != "ok" and not r.res.get("_ansible_ignore_errors")]


# ptyprocess's close() sleeps 0.1 s "to give the kernel time to update process status", even when
# the child has exited and been reaped; ansible-runner closes the pty of every run after its end,
# so each selfops command paid it (a switch takes about 1.5 s). Skip the wait only then.
_pty_close = ptyprocess.PtyProcess.close


def _close_without_waiting_for_the_dead(self, force=True):
    if not self.closed and not self.isalive():
        self.delayafterclose = 0
    return _pty_close(self, force)


ptyprocess.PtyProcess.close = _close_without_waiting_for_the_dead


# A command killed with SIGKILL alone (its process tree spared) cannot forward anything: its
# ansible-playbook would go on in its own session, holding a live lock. The kernel sends this
# SIGTERM to ansible-playbook when the command dies (PR_SET_PDEATHSIG, set by util-linux's setpriv,
# survives the exec), so the playbook stops and the next command takes over its lock as one whose
# holder is gone. A shell and setpriv start in a few milliseconds; a Python wrapper took 60-90 ms.
_WRAPPER = """#!/bin/sh
[ "$PPID" = {parent} ] || exit 143  # the command died before the wrapper started
exec setpriv --pdeathsig TERM -- {real} "$@"
"""


def _dies_with_this_command(private):
    """A directory holding an ansible-playbook wrapper that dies with this process (see _WRAPPER)."""
    directory = os.path.join(private, "bin")
    os.makedirs(directory)
    path = os.path.join(directory, "ansible-playbook")
    real = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    with open(path, "w") as handle:
        handle.write(_WRAPPER.format(parent=os.getpid(), real=shlex.quote(real)))
    os.chmod(path, 0o755)
    return directory


def run_playbook(name, extravars=None, inventory=None, extra_vars_args=(), progress=True, check=False,
                 limit=None, verbosity=0):
    """Runs playbook `name`; check runs it in Ansible's check mode (--check --diff), limit and verbosity
    are ansible-playbook's --limit and -v. With verbosity, ansible-playbook's own output is shown on
    stderr instead of the task progress."""
    results = []
    stats = {}

    def on_event(event):
        data = event.get("event_data", {})
        kind = event.get("event")
        if verbosity and event.get("stdout"):
            print(event["stdout"], file=sys.stderr, flush=True)
        elif kind == "playbook_on_task_start" and progress:
            print(f"  … {data.get('task')}", file=sys.stderr, flush=True)
        if kind == "playbook_on_stats":
            stats.update(data.get("artifact_data") or {})
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
    if limit:
        cmdline += f" --limit {shlex.quote(limit)}"
    if verbosity:
        cmdline += " -" + "v" * min(int(verbosity), 6)
    playbook_pid = []

    def on_any_event(event):
        if not playbook_pid and event.get("pid"):
            playbook_pid.append(event["pid"])  # ansible-playbook's own pid (ansible-runner's callback)
        return on_event(event)

    with tempfile.TemporaryDirectory(prefix="selfops-") as private:
        wrapper_dir = _dies_with_this_command(private)
        thread, runner = ansible_runner.run_async(
            private_data_dir=private,
            playbook=str(collection.playbook(name)),
            inventory=str(inventory or collection.default_inventory()),
            extravars=extravars or {},
            cmdline=cmdline or None,
            envvars={
                # ansible-playbook from the same environment as this command, not whatever PATH finds
                # first, through the wrapper that ties its life to this command's.
                "PATH": os.pathsep.join([wrapper_dir, os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
                "ANSIBLE_CONFIG": str(home / "ansible.cfg"),
                "ANSIBLE_COLLECTIONS_PATH": str(home / ".collections"),
                "ANSIBLE_ROLES_PATH": str(home / "roles"),
            },
            event_handler=on_any_event,
            # Not ansible-runner's own handler (it would SIGKILL the group at once): see _supervise.
            cancel_callback=lambda: False,
            quiet=True,
        )
        stopped = _supervise(thread, lambda: playbook_pid[0] if playbook_pid else None)
    if stopped is not None:
        raise stopped
    return Run(rc=runner.rc, status=runner.status, results=results, stats=stats)
