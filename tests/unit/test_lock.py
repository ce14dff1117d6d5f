"""The deploy lock: one lifecycle action at a time, refused at once, stale locks broken only on purpose."""
import datetime
import json
import multiprocessing
import os
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
    assert set(holder) == {"owner", "action", "version", "pid", "host", "since", "expires", "token"}
    assert holder["owner"] == "alice@laptop" and holder["action"] == "deploy" and holder["version"] == "1.2.0"
    assert holder["since"] == "2026-11-29T07:00:00Z" and holder["expires"] == "2026-11-29T07:30:00Z"
    assert holder["pid"] == os.getpid() and len(holder["token"]) == 32
    assert sorted(os.listdir(os.path.dirname(path))) == ["deploy.lock"]


def test_second_acquire_fails_at_once_naming_the_holder(path):
    take(path)
    started = time.monotonic()
    with pytest.raises(lock.LockHeld) as refused:
        take(path, owner="bob@desk", action="switch", now=later(60))
    assert time.monotonic() - started < 1
    message = str(refused.value)
    assert message.startswith(
        "deploy lock held by alice@laptop since 2026-11-29T07:00:00Z (deploy 1.2.0, expires 07:30:00Z")
    assert refused.value.holder["owner"] == "alice@laptop"
    assert isinstance(refused.value, UnsafeOperation)


def test_the_holder_token_makes_acquire_a_no_op(path):
    first = take(path, token="run-42")
    assert first["lock"]["token"] == "run-42"
    again = take(path, token="run-42", now=later(10))
    assert not again["changed"] and again["acquired"] and again["lock"] == first["lock"]


def test_stale_lock_is_refused_without_force(path):
    take(path, ttl=60)
    with pytest.raises(lock.LockHeld, match="expired but still refused: break it with force"):
        take(path, owner="bob@desk", now=later(61))
    assert lock.read_lock(path)["owner"] == "alice@laptop"


def test_stale_lock_is_broken_with_force_and_reason(path):
    stale = take(path, ttl=60)["lock"]
    result = take(path, owner="bob@desk", action="rollback", version=None, now=later(3600),
                  force=True, reason="alice's deploy crashed")
    assert result["changed"] and result["acquired"]
    assert result["broken"] == {"previous": stale, "reason": "alice's deploy crashed", "by": "bob@desk",
                                "at": "2026-11-29T08:00:00Z"}
    assert lock.read_lock(path) == result["lock"] and result["lock"]["owner"] == "bob@desk"
    assert sorted(os.listdir(os.path.dirname(path))) == ["deploy.lock"], "nothing is left aside"


def test_force_needs_a_reason(path):
    take(path, ttl=60)
    with pytest.raises(SelfologyError, match="force needs a reason"):
        take(path, owner="bob@desk", now=later(3600), force=True)


def test_live_lock_cannot_be_broken(path):
    take(path)
    with pytest.raises(lock.LockHeld, match="it is live and cannot be broken"):
        take(path, owner="bob@desk", now=later(60), force=True, reason="in a hurry")
    assert lock.read_lock(path)["owner"] == "alice@laptop"


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
        lock.acquire(path, "breaker-%d" % os.getpid(), "rollback", force=True, reason="stale")
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
