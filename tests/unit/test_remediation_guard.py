"""The loop guard of alert-driven runs: one claim per key and window, a claim without a window for good,
racing claimers of one key never both allowed, an unreadable guard refuses rather than forgets."""
import datetime
import json
import multiprocessing
import os

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import remediations
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.modules import remediation_guard

T0 = datetime.datetime(2026, 11, 29, 7, 0, 0, tzinfo=datetime.timezone.utc)


def later(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "state" / "remediations.json")


def claims(path):
    with open(path) as handle:
        return json.load(handle)["claims"]


def test_the_first_claim_is_allowed_and_recorded(path):
    result = remediations.claim(path, "fp1", window="30m", details={"alertname": "ServiceDown"}, now=T0)
    assert result["changed"] and result["allowed"] and result["previous"] is None
    assert result["claim"] == {"key": "fp1", "claimed_at": "2026-11-29T07:00:00Z", "window": "30m",
                               "expires": "2026-11-29T07:30:00Z", "details": {"alertname": "ServiceDown"}}
    assert claims(path) == {"fp1": result["claim"]}
    assert oct(os.stat(path).st_mode & 0o777) == oct(remediations.FILE_MODE)
    assert "claimed" in result["message"] and "07:30:00Z" in result["message"]


def test_the_same_key_within_the_window_is_refused_with_the_claim_that_refused_it(path):
    details = {"alertname": "ServiceDown", "service": "analysis-worker"}
    first = remediations.claim(path, "fp1", window="30m", details=details, now=T0)
    before = open(path).read()
    second = remediations.claim(path, "fp1", window="30m", now=later(29 * 60 + 59))
    assert not second["changed"] and not second["allowed"]
    assert second["previous"] == first["claim"] == second["claim"]
    assert open(path).read() == before, "a refusal wrote the file"
    assert second["message"] == ("remediation fp1 already claimed at 2026-11-29T07:00:00Z (alertname ServiceDown, "
                                 "service analysis-worker), until 2026-11-29T07:30:00Z")


def test_after_the_window_the_key_is_claimed_again(path):
    remediations.claim(path, "fp1", window="30m", now=T0)
    again = remediations.claim(path, "fp1", window="30m", now=later(30 * 60))
    assert again["allowed"] and again["changed"]
    assert again["previous"]["claimed_at"] == "2026-11-29T07:00:00Z"
    assert claims(path)["fp1"]["claimed_at"] == "2026-11-29T07:30:00Z"


def test_other_keys_are_independent_and_run_out_claims_are_dropped(path):
    remediations.claim(path, "old", window="1m", now=T0)
    remediations.claim(path, "rollback:1.2.0@2026-11-29T06:00:00Z", now=T0)
    assert remediations.claim(path, "fp2", window="30m", now=later(61))["allowed"]
    assert sorted(claims(path)) == ["fp2", "rollback:1.2.0@2026-11-29T06:00:00Z"]


def test_a_claim_without_a_window_holds_for_good(path):
    first = remediations.claim(path, "rollback:1.2.0@T", now=T0)
    assert first["claim"]["window"] is None and first["claim"]["expires"] is None
    again = remediations.claim(path, "rollback:1.2.0@T", window="1s", now=later(10 * 365 * 86400))
    assert not again["allowed"] and "for good" in again["message"]


def test_check_mode_answers_the_same_and_writes_nothing(path):
    would = remediations.claim(path, "fp1", window="5m", check_mode=True, now=T0)
    assert would["allowed"] and would["changed"] and not os.path.exists(path)
    remediations.claim(path, "fp1", window="5m", now=T0)
    before = open(path).read()
    refused = remediations.claim(path, "fp1", window="5m", check_mode=True, now=later(1))
    assert not refused["allowed"] and not refused["changed"]
    removed = remediations.release(path, "fp1", check_mode=True)
    assert removed["changed"] and open(path).read() == before


def test_absent_removes_the_claim_and_then_changes_nothing(path):
    remediations.claim(path, "fp1", window="30m", now=T0)
    removed = remediations.release(path, "fp1")
    assert removed["changed"] and removed["previous"]["key"] == "fp1" and claims(path) == {}
    assert not remediations.release(path, "fp1")["changed"]
    assert remediations.claim(path, "fp1", window="30m", now=later(1))["allowed"]


def test_no_file_means_no_claims_and_absent_creates_none(path):
    assert not remediations.release(path, "fp1")["changed"] and not os.path.exists(path)


@pytest.mark.parametrize("content", ["{not json", "[]", '{"claims": []}', ""])
def test_an_unreadable_guard_refuses_rather_than_forgets(path, content):
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(content)
    with pytest.raises(SelfologyError, match="remediation guard"):
        remediations.claim(path, "fp1", window="30m", now=T0)


@pytest.mark.parametrize("window", ["30 m", "0s", "1.5h", "-5m", "400d", "PT5M", 30])
def test_a_window_outside_the_grammar_is_refused(path, window):
    with pytest.raises(SelfologyError, match="window"):
        remediations.claim(path, "fp1", window=window, now=T0)


@pytest.mark.parametrize("key", ["", "  ", "a\nb", "x" * 257, None])
def test_a_bad_key_is_refused(path, key):
    with pytest.raises(SelfologyError, match="key"):
        remediations.claim(path, key, window="30m", now=T0)


def _race(path, start, results):
    start.wait()
    results.put(remediations.claim(path, "fp-race", window="30m")["allowed"])


def test_of_racing_claimers_of_one_key_exactly_one_is_allowed(path):
    start, results = multiprocessing.Event(), multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_race, args=(path, start, results)) for _n in range(8)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(30)
    allowed = [results.get(timeout=5) for _proc in procs]
    assert allowed.count(True) == 1, allowed
    assert list(claims(path)) == ["fp-race"]


def test_the_module_runs_the_same_logic(path):
    params = dict(path=path, key="fp1", window="30m", details=None, state="present")
    first = remediation_guard.run(params, check_mode=False)
    second = remediation_guard.run(params, check_mode=False)
    assert first["allowed"] and not second["allowed"]
    gone = remediation_guard.run(dict(params, state="absent"), check_mode=False)
    assert gone["changed"] and claims(path) == {}
    assert set(remediation_guard.TASK.argument_spec) == {"path", "key", "window", "details", "state"}
