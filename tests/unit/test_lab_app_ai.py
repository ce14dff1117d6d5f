"""The lab worker's AI router (lab/app/selfology_app/ai.py): the model mix, the cost of a call,
the circuit breaker's transitions, and what the router bills or falls back to."""
import sys
from collections import Counter

import pytest

from lab import ROOT

sys.path.insert(0, str(ROOT / "lab" / "app"))

from selfology_app import ai  # noqa: E402  (standard library only: no service libraries needed)

PER_CALL = {"gpt-4o": 0.003, "gpt-4o-mini": 0.00018, "claude": 0.0042}


@pytest.mark.parametrize("first", [1, 7, 1000, 123457])
def test_the_mix_is_exactly_75_15_10_over_any_100_consecutive_events(first):
    counts = Counter(ai.choose_model(event_id) for event_id in range(first, first + 100))
    assert counts == {"gpt-4o": 75, "gpt-4o-mini": 15, "claude": 10}


def test_the_mix_is_exact_over_any_20_consecutive_events_and_spread():
    for first in range(1, 41):
        counts = Counter(ai.choose_model(event_id) for event_id in range(first, first + 20))
        assert counts == {"gpt-4o": 15, "gpt-4o-mini": 3, "claude": 2}
    # the rarer models are not bunched at the end of the cycle
    assert [i for i, model in enumerate(ai.MIX) if model != "gpt-4o"] == [4, 9, 14, 18, 19]
    assert ai.choose_model(9) == ai.choose_model(29) == "claude"


def test_a_call_costs_its_usage_at_the_models_list_prices():
    for model, cost in PER_CALL.items():
        assert ai.call_cost(model, ai.PROMPT_TOKENS, ai.COMPLETION_TOKENS) == pytest.approx(cost, abs=1e-12)
    assert ai.call_cost("gpt-4o", 1_000_000, 0) == pytest.approx(2.50)
    assert ai.call_cost("claude", 0, 1_000_000) == pytest.approx(15.00)


def test_100_local_analyses_bill_the_mix_to_the_cent():
    router = ai.Router()  # no URL: analysed in the process, billed as the provider would bill
    costs, requests = Counter(), Counter()
    for event_id in range(1, 101):
        analysis = router.analyse(event_id, "openness", 4)
        assert analysis.source == "local" and analysis.billed
        assert (analysis.prompt_tokens, analysis.completion_tokens) == (ai.PROMPT_TOKENS, ai.COMPLETION_TOKENS)
        costs[analysis.model] += analysis.cost
        requests[analysis.model] += 1
    assert requests == {"gpt-4o": 75, "gpt-4o-mini": 15, "claude": 10}
    assert costs["gpt-4o"] == pytest.approx(0.225)
    assert costs["gpt-4o-mini"] == pytest.approx(0.0027)
    assert costs["claude"] == pytest.approx(0.042)
    assert round(sum(costs.values()), 4) == 0.2697


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def breaker(failures=3, cooldown=30.0):
    clock, changes = Clock(), []
    b = ai.Breaker(failures, cooldown, clock=clock, on_change=lambda old, new: changes.append((old, new)))
    return b, clock, changes


def test_the_breaker_opens_after_n_consecutive_failures_only():
    b, _clock, changes = breaker(failures=3)
    b.failure()
    b.failure()
    b.success()  # a success in between starts the count again
    b.failure()
    b.failure()
    assert b.state == ai.CLOSED and b.allow() and changes == []
    b.failure()
    assert b.state == ai.OPEN and changes == [(ai.CLOSED, ai.OPEN)]
    assert not b.allow() and not b.allow()


def test_the_breaker_turns_half_open_after_the_cool_down_and_lets_one_trial_through():
    b, clock, changes = breaker(failures=1, cooldown=30)
    b.failure()
    clock.now += 29.9
    assert b.refresh() == ai.OPEN and not b.allow()
    clock.now += 0.1
    assert b.refresh() == ai.HALF_OPEN
    assert changes == [(ai.CLOSED, ai.OPEN), (ai.OPEN, ai.HALF_OPEN)]
    assert b.allow() is True     # the trial
    assert b.allow() is False    # while the trial is out, nothing else goes
    b.success()
    assert b.state == ai.CLOSED and b.allow() and changes[-1] == (ai.HALF_OPEN, ai.CLOSED)


def test_a_failed_trial_opens_the_breaker_again_for_a_full_cool_down():
    b, clock, changes = breaker(failures=5, cooldown=10)
    for _n in range(5):
        b.failure()
    clock.now += 10
    assert b.allow()  # half-open trial
    b.failure()       # one failure is enough when half-open
    assert b.state == ai.OPEN and changes[-1] == (ai.HALF_OPEN, ai.OPEN)
    clock.now += 9
    assert not b.allow()
    clock.now += 1
    assert b.state == ai.HALF_OPEN


def test_the_breaker_refuses_a_nonsense_configuration():
    with pytest.raises(ValueError):
        ai.Breaker(0, 30)
    with pytest.raises(ValueError):
        ai.Breaker(5, 0)


def completion(prompt=ai.PROMPT_TOKENS, completion_tokens=ai.COMPLETION_TOKENS):
    return {"choices": [{"message": {"role": "assistant", "content": "A high openness answer."}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens}}


def test_the_router_bills_what_the_provider_answers():
    calls = []

    def post(url, body, timeout):
        calls.append((url, body, timeout))
        return completion(1000, 100)

    router = ai.Router("http://selfology-ai-stub:8000/", timeout=1.5, post=post)
    analysis = router.analyse(9, "openness", 4)
    assert analysis.model == "claude" and analysis.source == "provider" and analysis.billed
    assert analysis.text == "A high openness answer."
    assert analysis.cost == pytest.approx((1000 * 3.00 + 100 * 15.00) / 1e6)
    [(url, body, timeout)] = calls
    assert url == "http://selfology-ai-stub:8000/v1/chat/completions" and timeout == 1.5
    assert body["model"] == "claude" and body["messages"][-1]["role"] == "user"
    assert "openness" in body["messages"][-1]["content"]


@pytest.mark.parametrize("answer", [{}, {"choices": []}, {"choices": [{"message": {"content": "x"}}]},
                                    {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "a"}}])
def test_an_answer_that_is_no_completion_is_a_failure(answer):
    router = ai.Router("http://ai", post=lambda url, body, timeout: answer)
    analysis = router.analyse(1, "openness", 4)
    assert (analysis.source, analysis.reason, analysis.cost, analysis.billed) == ("fallback", "error", 0.0, False)
    assert router.breaker.failures == 1


def test_failures_open_the_breaker_and_then_the_provider_is_not_called():
    calls = []

    def post(url, body, timeout):
        calls.append(body["model"])
        raise OSError("connection refused")

    clock = Clock()
    router = ai.Router("http://ai", post=post, breaker=ai.Breaker(3, 30, clock=clock))
    reasons = [router.analyse(event_id, "openness", 4).reason for event_id in range(1, 8)]
    assert reasons == ["error"] * 3 + ["breaker_open"] * 4
    assert len(calls) == 3 and router.breaker.state == ai.OPEN
    assert isinstance(router.last_error, OSError)
    # after the cool-down one trial goes; the provider answers again: closed, billed
    clock.now += 30
    router.post = lambda url, body, timeout: completion()
    analysis = router.analyse(8, "openness", 4)
    assert analysis.source == "provider" and router.breaker.state == ai.CLOSED


def test_the_local_analysis_is_a_short_sentence_for_any_value():
    assert ai.local_analysis("openness", 4) == "A high openness answer (4): noted for the profile."
    assert "low" in ai.local_analysis("neuroticism", 1)
    assert "unclear" in ai.local_analysis("load", "n/a")
