"""The deploy lock: one lifecycle action at a time, refused at once, a gone holder's lock taken over,
a live one broken only by a forced rollback, stale locks of the old format broken only on purpose."""
import datetime
import json
import multiprocessing
import os
import socket
import subprocess
import time

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import lock
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError, UnsafeOperation

T0 = datetime.datetime(2026, 11, 29, 7, 0, 0, tzinfo=datetime.timezone.utc)


def later(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "run" / "deploy.lock")


def take(path, owner="alice@laptop", action="deploy", version="1.2.0", now=T0, **kwargs):
    return lock.acquire(path, owner, action, version=version, now=now, **kwargs)


def test_acquire_writes_the_holder(path):
    result = take(path)
    assert result["changed"] and result["acquired"] and result["broken"] is None
    holder = result["lock"]
    with open(path) as handle:
        assert json.load(handle) == holder
    assert set(holder) == {"owner", "action", "version", "pid", "host", "start", "since", "expires", "lease", "token"}
    assert holder["owner"] == "alice@laptop" and holder["action"] == "deploy" and holder["version"] == "1.2.0"
    assert holder["since"] == "2026-11-29T07:00:00Z" and holder["expires"] == "2026-11-29T07:01:30Z"
    assert holder["lease"] == lock.DEFAULT_TTL == 90
    assert holder["pid"] == os.getpid() and holder["start"] == lock.process_start(os.getpid())
    assert holder["host"] == socket.gethostname() and len(holder["token"]) == 32
    assert os.stat(path).st_mtime == T0.timestamp(), "the file's mtime is the lease's last renewal"
    assert sorted(os.listdir(os.path.dirname(path))) == ["deploy.lock"]


def test_second_acquire_fails_at_once_naming_the_holder(path):
    take(path)
    started = time.monotonic()
    with pytest.raises(lock.LockHeld) as refused:
        take(path, owner="bob@desk", action="switch", now=later(60))
    assert time.monotonic() - started < 1
    message = str(refused.value)
    assert message.startswith(
        "deploy lock held by alice@laptop since 2026-11-29T07:00:00Z (deploy 1.2.0, expires 07:01:30Z")
    assert refused.value.holder["owner"] == "alice@laptop"
    assert isinstance(refused.value, UnsafeOperation)


def test_the_holder_token_makes_acquire_a_no_op(path):
    first = take(path, token="run-42")
    assert first["lock"]["token"] == "run-42"
    again = take(path, token="run-42", now=later(10))
    assert not again["changed"] and again["acquired"] and again["renewed"]
    assert again["lock"] == dict(first["lock"], expires="2026-11-29T07:01:40Z"), "the same lock, its lease renewed"


def legacy(path, expires="2026-11-29T07:30:00Z"):
    """A lock of the old format: a fixed expiry, no lease, the module's pid, no start time."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    holder = {"owner": "alice@laptop", "action": "deploy", "version": "1.2.0", "pid": 1, "host": "oldbox",
              "since": "2026-11-29T07:00:00Z", "expires": expires, "token": "legacy-token"}
    with open(path, "w") as handle:
        json.dump(holder, handle)
    return holder


def test_expired_lock_of_the_old_format_is_refused_without_force(path):
    legacy(path)
    with pytest.raises(lock.LockHeld, match="expired but still refused: break it with force"):
        take(path, owner="bob@desk", now=later(1801))
    assert lock.read_lock(path)["owner"] == "alice@laptop"


def test_expired_lock_of_the_old_format_is_broken_with_force_and_reason(path):
    stale = legacy(path)
    result = take(path, owner="bob@desk", action="rollback", version=None, now=later(3600),
                  force=True, reason="alice's deploy crashed")
    assert result["changed"] and result["acquired"] and not result["taken_over"]
    assert result["broken"] == {"previous": stale, "how": "forced", "reason": "alice's deploy crashed",
                                "by": "bob@desk", "at": "2026-11-29T08:00:00Z"}
    assert lock.read_lock(path) == result["lock"] and result["lock"]["owner"] == "bob@desk"
    assert sorted(os.listdir(os.path.dirname(path))) == ["deploy.lock"], "nothing is left aside"


def test_a_lease_that_ran_out_is_taken_over(path):
    take(path, ttl=60, process=dict(host="other-controller", pid=4242, start=1.0))
    with pytest.raises(lock.LockHeld, match="refused"):
        take(path, owner="bob@desk", now=later(59))
    result = take(path, owner="bob@desk", now=later(61))
    assert result["taken_over"] and result["broken"]["how"] == "taken_over"
    assert result["broken"]["previous"]["host"] == "other-controller"
    assert result["broken"]["reason"] == "its lease expired at 2026-11-29T07:01:00Z (not renewed for 61s)"
    assert lock.read_lock(path)["owner"] == "bob@desk"


def test_a_renewed_lease_stays_live(path):
    token = take(path, ttl=60, process=dict(host="other-controller", pid=4242, start=1.0))["lock"]["token"]
    assert lock.renew(path, token, now=later(50))
    assert lock.read_lock(path)["expires"] == "2026-11-29T07:01:50Z", "the expiry shown includes the renewal"
    with pytest.raises(lock.LockHeld, match="expires 07:01:50Z"):
        take(path, owner="bob@desk", now=later(100))
    renewed = take(path, token=token, now=later(100))
    assert renewed["renewed"] and not renewed["changed"] and renewed["lock"]["expires"] == "2026-11-29T07:02:40Z"
    assert take(path, owner="bob@desk", now=later(161))["taken_over"]
    assert not lock.renew(path, token, now=later(162)), "a renewal never touches someone else's lock"


def test_force_needs_a_reason(path):
    take(path, ttl=60)
    with pytest.raises(SelfologyError, match="force needs a reason"):
        take(path, owner="bob@desk", now=later(3600), force=True)


def test_live_lock_cannot_be_broken_except_by_a_forced_rollback(path):
    take(path)
    for action in ("deploy", "switch", "cleanup", "scale"):
        with pytest.raises(lock.LockHeld, match="it is live and cannot be broken, even with force"):
            take(path, owner="bob@desk", action=action, now=later(60), force=True, reason="in a hurry")
    assert lock.read_lock(path)["owner"] == "alice@laptop"
    with pytest.raises(lock.LockHeld, match="refused"):
        take(path, owner="bob@desk", action="rollback", now=later(60))
    result = take(path, owner="bob@desk", action="rollback", now=later(60), force=True, reason="prod is down")
    assert result["broken"]["how"] == "forced" and result["broken"]["previous"]["owner"] == "alice@laptop"
    assert result["broken"]["reason"] == "prod is down" and not result["taken_over"]
    assert lock.read_lock(path)["owner"] == "bob@desk"


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'{"owner": "x"}'])
def test_unreadable_lock_counts_as_held_unless_forced(path, content):
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(content)
    with pytest.raises(lock.LockHeld, match="is unreadable"):
        take(path)
    result = take(path, force=True, reason="garbage left by a full disk")
    assert "unreadable" in result["broken"]["previous"]
    assert lock.read_lock(path)["owner"] == "alice@laptop"


def test_check_mode_reports_and_changes_nothing(path):
    result = take(path, check_mode=True)
    assert result["changed"] and result["acquired"]
    assert not os.path.exists(os.path.dirname(path)), "check mode creates nothing, not even the directory"
    take(path, ttl=60)
    with pytest.raises(lock.LockHeld):
        take(path, owner="bob@desk", now=later(30), check_mode=True)
    result = take(path, owner="bob@desk", now=later(3600), check_mode=True, force=True, reason="stale")
    assert result["broken"]["previous"]["owner"] == "alice@laptop"
    assert lock.read_lock(path)["owner"] == "alice@laptop"


def test_release_with_the_token(path):
    token = take(path)["lock"]["token"]
    result = lock.release(path, token=token)
    assert result["changed"] and result["lock"]["token"] == token and result["broken"] is None
    assert not os.path.exists(path)
    again = lock.release(path, token=token)
    assert not again["changed"] and again["lock"] is None


def test_release_with_a_wrong_or_no_token_is_refused(path):
    take(path)
    with pytest.raises(lock.LockHeld, match="the token is not the holder's"):
        lock.release(path, token="not-mine")
    with pytest.raises(lock.LockHeld, match="no token was given"):
        lock.release(path)
    assert lock.read_lock(path)["owner"] == "alice@laptop"


def test_forced_release_says_whose_lock_it_was(path):
    take(path)
    result = lock.release(path, force=True, reason="alice left for the day", by="bob@desk", now=later(60))
    assert result["changed"] and result["broken"]["previous"]["owner"] == "alice@laptop"
    assert result["broken"]["reason"] == "alice left for the day"
    assert not os.path.exists(path)


def test_release_in_check_mode_keeps_the_lock(path):
    token = take(path)["lock"]["token"]
    assert lock.release(path, token=token, check_mode=True)["changed"]
    assert lock.read_lock(path)["token"] == token


def _race(path, barrier, results):
    barrier.wait()
    try:
        lock.acquire(path, "racer-%d" % os.getpid(), "deploy")
        results.put("won")
    except lock.LockHeld:
        results.put("refused")
    except Exception as exc:  # anything else is a bug the test must show
        results.put("error: %r" % exc)


def test_two_processes_racing_exactly_one_wins(tmp_path):
    context = multiprocessing.get_context("fork")
    for attempt in range(20):
        path = str(tmp_path / ("race-%d.lock" % attempt))
        barrier, results = context.Barrier(2), context.Queue()
        racers = [context.Process(target=_race, args=(path, barrier, results)),
                  context.Process(target=_race, args=(path, barrier, results))]
        for racer in racers:
            racer.start()
        outcomes = sorted(results.get(timeout=10) for racer in racers)
        for racer in racers:
            racer.join(10)
        assert outcomes == ["refused", "won"], "attempt %d: %s" % (attempt, outcomes)
        assert lock.read_lock(path)["owner"].startswith("racer-")


def _race_to_break(path, barrier, results):
    barrier.wait()
    try:
        lock.acquire(path, "breaker-%d" % os.getpid(), "switch", force=True, reason="stale")
        results.put("won")
    except lock.LockHeld:
        results.put("refused")
    except Exception as exc:  # anything else is a bug the test must show
        results.put("error: %r" % exc)


def test_two_processes_breaking_the_same_stale_lock_exactly_one_wins(tmp_path):
    context = multiprocessing.get_context("fork")
    for attempt in range(20):
        path = str(tmp_path / ("stale-%d.lock" % attempt))
        take(path, ttl=1, now=later(-3600))
        barrier, results = context.Barrier(2), context.Queue()
        racers = [context.Process(target=_race_to_break, args=(path, barrier, results)),
                  context.Process(target=_race_to_break, args=(path, barrier, results))]
        for racer in racers:
            racer.start()
        outcomes = sorted(results.get(timeout=10) for racer in racers)
        for racer in racers:
            racer.join(10)
        assert outcomes == ["refused", "won"], "attempt %d: %s" % (attempt, outcomes)
        assert lock.read_lock(path)["owner"].startswith("breaker-")
        assert sorted(os.listdir(tmp_path)) == sorted("stale-%d.lock" % i for i in range(attempt + 1))


# Holders judged from this controller: real processes ---------------------------------------------

HERE = socket.gethostname()


def judge(holder):
    return lock.liveness(holder, HERE)


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def held_by(path, proc, start=None, **kwargs):
    start = lock.process_start(proc.pid) if start is None else start
    return take(path, process=dict(host=HERE, pid=proc.pid, start=start), now=lock.utcnow(), **kwargs)["lock"]


def test_process_start_is_the_start_time_of_a_running_process(sleeper):
    start = lock.process_start(sleeper.pid)
    assert abs(start - time.time()) < 5
    assert lock.process_start(sleeper.pid) == start, "read again, the same to the tick"
    assert lock.process_start(os.getpid()) <= start
    sleeper.kill()
    sleeper.wait()
    assert lock.process_start(sleeper.pid) is None
    assert lock.process_start(0) is None and lock.process_start("x") is None


def test_a_zombie_holder_is_gone(sleeper):
    sleeper.kill()
    time.sleep(0.2)  # killed, not yet waited for: a zombie
    assert lock.process_start(sleeper.pid) is None


def test_the_lock_of_a_dead_holder_on_this_controller_is_taken_over(path, sleeper):
    dead = held_by(path, sleeper)
    sleeper.kill()
    sleeper.wait()
    result = take(path, owner="bob@desk", action="switch", now=lock.utcnow(), judge=judge)
    assert result["taken_over"] and result["broken"]["how"] == "taken_over"
    assert result["broken"]["previous"]["token"] == dead["token"]
    assert result["broken"]["reason"] == "its process (pid %d on %s) is not running" % (sleeper.pid, HERE)
    assert lock.read_lock(path)["owner"] == "bob@desk"


def test_a_pid_used_again_by_another_process_does_not_hold_the_lock(path, sleeper):
    start = lock.process_start(sleeper.pid)
    held_by(path, sleeper, start=start - 100)  # the holder had this pid, but started 100 s earlier
    result = take(path, owner="bob@desk", now=lock.utcnow(), judge=judge)
    assert result["taken_over"] and "is another process now" in result["broken"]["reason"]


def test_a_live_holder_on_this_controller_is_refused_even_with_force_and_an_expired_lease(path, sleeper):
    held_by(path, sleeper, ttl=1)
    time.sleep(1.1)
    message = "its process \\(pid %d on %s\\) is running" % (sleeper.pid, HERE)
    with pytest.raises(lock.LockHeld, match=message):
        take(path, owner="bob@desk", action="switch", now=lock.utcnow() + datetime.timedelta(seconds=60),
             judge=judge)
    with pytest.raises(lock.LockHeld, match="cannot be broken, even with force"):
        take(path, owner="bob@desk", action="switch", now=lock.utcnow(), force=True, reason="x", judge=judge)
    result = take(path, owner="bob@desk", action="rollback", now=lock.utcnow(), force=True, reason="x", judge=judge)
    assert result["broken"]["how"] == "forced" and result["broken"]["previous"]["pid"] == sleeper.pid
    assert result["broken"]["holder_was"] == "its process (pid %d on %s) is running" % (sleeper.pid, HERE)


def test_a_holder_on_another_controller_is_not_judged_by_its_pid(path, sleeper):
    take(path, process=dict(host="other-controller", pid=sleeper.pid + 100000, start=1.0), now=lock.utcnow())
    with pytest.raises(lock.LockHeld, match="its lease has not expired"):
        take(path, owner="bob@desk", now=lock.utcnow(), judge=judge)


def test_the_interrupted_run_s_lock_is_released_only_when_its_process_is_gone(path, sleeper):
    held_by(path, sleeper)
    interrupted = dict(pid=sleeper.pid, host=HERE)
    kept = lock.release(path, interrupted=interrupted, judge=judge, by="selfops")
    assert not kept["changed"] and "not known to be gone" in kept["why"] and os.path.exists(path)
    other = lock.release(path, interrupted=dict(pid=sleeper.pid + 1, host=HERE), judge=judge)
    assert not other["changed"] and "not the interrupted run's" in other["why"]
    sleeper.kill()
    sleeper.wait()
    released = lock.release(path, interrupted=interrupted, judge=judge, by="selfops")
    assert released["changed"] and released["broken"]["how"] == "interrupted" and not os.path.exists(path)
    assert released["why"] == "its process (pid %d on %s) is not running" % (sleeper.pid, HERE)
    assert not lock.release(path, interrupted=interrupted, judge=judge)["changed"]


def _renewer(path, token, pid, start):
    lock.renew_while(path, token, pid, start, 0.2, poll=0.05)


def test_the_renewer_renews_while_the_holder_runs_and_stops_with_it(path, sleeper):
    holder = held_by(path, sleeper)
    os.utime(path, (time.time() - 30, time.time() - 30))
    context = multiprocessing.get_context("fork")
    renewer = context.Process(target=_renewer, args=(path, holder["token"], sleeper.pid, holder["start"]))
    renewer.start()
    # Polled, not slept: a loaded machine may start the renewer late.
    deadline = time.monotonic() + 10
    while time.time() - os.stat(path).st_mtime > 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert time.time() - os.stat(path).st_mtime < 5, "renewed"
    assert renewer.is_alive()
    sleeper.kill()
    sleeper.wait()
    renewer.join(10)
    assert not renewer.is_alive() and renewer.exitcode == 0


def test_the_renewer_stops_when_the_lock_is_released(path, sleeper):
    holder = held_by(path, sleeper)
    context = multiprocessing.get_context("fork")
    renewer = context.Process(target=_renewer, args=(path, holder["token"], sleeper.pid, holder["start"]))
    renewer.start()
    time.sleep(0.3)
    lock.release(path, token=holder["token"])
    renewer.join(10)
    assert not renewer.is_alive()
