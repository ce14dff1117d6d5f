"""session-management's onboarding counters (lab/app/selfology_app/api.py): a user's first answer
starts the onboarding, the fifth completes it; the ordinal comes from an atomic Redis counter
seeded from personality_profiles.answers_count when the key is missing."""
import sys
import threading
import time
import types

import pytest

from lab import ROOT
sys.path.insert(0, str(ROOT / "lab" / "app"))

from selfology_app import api  # noqa: E402


class FakeRedis:
    """SET NX EX, INCR and EXPIRE in a MULTI/EXEC pipeline, atomically (one lock)."""

    def __init__(self):
        self.data, self.ttl, self.lock, self.down = {}, {}, threading.Lock(), False

    def pipeline(self, transaction=True):
        assert transaction, "the seed and the INCR must run as one transaction"
        return FakePipeline(self)


class FakePipeline:
    def __init__(self, redis):
        self.redis, self.ops = redis, []

    def set(self, key, value, nx=False, ex=None):
        self.ops.append(("set", key, value, nx, ex))

    def incr(self, key):
        self.ops.append(("incr", key))

    def expire(self, key, seconds):
        self.ops.append(("expire", key, seconds))

    def execute(self):
        r = self.redis
        if r.down:
            raise ConnectionError("Error 111 connecting to redis")
        results = []
        with r.lock:
            for op in self.ops:
                if op[0] == "set":
                    _op, key, value, nx, ex = op
                    if nx and key in r.data:
                        results.append(None)
                        continue
                    r.data[key], r.ttl[key] = int(value), ex
                    results.append(True)
                elif op[0] == "incr":
                    r.data[op[1]] = r.data.get(op[1], 0) + 1
                    results.append(r.data[op[1]])
                else:
                    r.ttl[op[1]] = op[2]
                    results.append(True)
        return results


class Count:
    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def inc(self, amount=1):
        with self.lock:
            self.value += amount


def onboarding():
    runtime = types.SimpleNamespace(redis=FakeRedis(), lines=[])
    runtime.log = runtime.lines.append
    return api.Onboarding(runtime, Count(), Count()), runtime


def test_the_first_answer_starts_and_the_fifth_completes():
    assert api.ONBOARDING_ANSWERS == len(api.QUESTIONS) == 5
    assert [api.onboarding_steps(n) for n in range(1, 8)] == [
        ["started"], [], [], [], ["completed"], [], []]


def test_a_user_answering_ten_times_counts_once_each():
    counter, runtime = onboarding()
    steps = [counter.count(7, applied=0) for _n in range(10)]  # the worker has applied none yet
    assert steps[0] == ["started"] and steps[4] == ["completed"]
    assert (counter.started.value, counter.completed.value) == (1, 1)
    assert runtime.redis.data["selfology:onboarding:answers:7"] == 10
    assert runtime.redis.ttl["selfology:onboarding:answers:7"] == api.ONBOARDING_TTL


def test_concurrent_answers_of_one_user_get_distinct_ordinals():
    counter, _runtime = onboarding()
    threads = [threading.Thread(target=counter.count, args=(42, 0)) for _n in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (counter.started.value, counter.completed.value) == (1, 1)


def test_a_lost_key_is_seeded_from_the_answers_the_worker_applied():
    counter, runtime = onboarding()
    assert counter.count(5, applied=4) == ["completed"]  # Redis lost the key; four answers applied
    assert counter.count(6, applied=9) == []              # long past the onboarding: nothing
    runtime.redis.data["selfology:onboarding:answers:8"] = 2
    assert counter.count(8, applied=0) == []              # a key that exists wins over the seed
    assert runtime.redis.data["selfology:onboarding:answers:8"] == 3
    assert (counter.started.value, counter.completed.value) == (0, 1)


def test_users_count_apart():
    counter, _runtime = onboarding()
    for user_id in (1, 2, 3):
        for _n in range(5):
            counter.count(user_id, 0)
    counter.count(4, 0)
    assert (counter.started.value, counter.completed.value) == (4, 3)


def wait_for(predicate, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_recorded_answers_are_counted_off_the_request_and_redis_down_loses_only_counts():
    counter, runtime = onboarding()
    counter.record(1, 0)
    assert wait_for(lambda: counter.started.value == 1)
    runtime.redis.down = True
    counter.record(2, 0)
    counter.record(3, 0)
    assert wait_for(lambda: any("onboarding counts lost" in line for line in runtime.lines))
    runtime.redis.down = False
    counter.record(4, 0)
    assert wait_for(lambda: counter.started.value == 2)
    assert [line.split(":")[0] for line in runtime.lines] == ["onboarding counts lost until Redis answers",
                                                              "onboarding counts resumed"]


@pytest.mark.parametrize("user_id", [0, 12345678901])
def test_the_key_names_the_user(user_id):
    counter, runtime = onboarding()
    counter.count(user_id, 0)
    assert list(runtime.redis.data) == [f"selfology:onboarding:answers:{user_id}"]
