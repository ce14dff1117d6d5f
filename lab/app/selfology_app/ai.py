"""The analysis worker's AI router: which model analyses an answer, what the call costs, and a
circuit breaker around the provider.

The lab reaches no AI provider. With SELFOLOGY_AI_URL set the router calls the provider stand-in
(`python3 -m selfology_app ai-stub`) at that URL, POST <url>/v1/chat/completions, and bills the
usage it answers with; with it unset the router computes the analysis in the process, billing the
same usage, so the lab without the stand-in keeps its costs and model mix.

Standard library only: the unit tests and the stand-ins import it without the service libraries.
"""
import json
import threading
import time
import urllib.request
from dataclasses import dataclass, replace

MODELS = ("gpt-4o", "gpt-4o-mini", "claude")
# The router's mix, as the runbook expects it: 75 % gpt-4o, 15 % gpt-4o-mini, 10 % claude. The
# model is the event id's place in this cycle of 20, so any 20 consecutive event ids (and so any
# 100) carry the mix exactly; the two rarer models are spread through the cycle.
MIX = (
    "gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini",
    "gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o", "claude",
    "gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini",
    "gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini", "claude",
)
# List prices in USD per million tokens (input, output).
PRICES = {"gpt-4o": (2.50, 10.00), "gpt-4o-mini": (0.15, 0.60), "claude": (3.00, 15.00)}
# Tokens of one instant analysis: the stand-in answers with this usage and the local router bills
# it, so a call costs gpt-4o $0.003, gpt-4o-mini $0.00018, claude $0.0042.
PROMPT_TOKENS = 400
COMPLETION_TOKENS = 200
COMPLETIONS_PATH = "/v1/chat/completions"
SYSTEM_PROMPT = "You are Selfology's instant analysis. Answer in one short sentence."

CLOSED, OPEN, HALF_OPEN = 0, 1, 2  # circuit_breaker_state's values
STATE_NAMES = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half-open"}


def choose_model(event_id):
    return MIX[int(event_id) % len(MIX)]


def call_cost(model, prompt_tokens, completion_tokens):
    """USD for one call at the model's list prices."""
    per_input, per_output = PRICES[model]
    return (prompt_tokens * per_input + completion_tokens * per_output) / 1_000_000


def user_prompt(trait, value):
    return f"The user answered a question on {trait} with {value}."


def local_analysis(trait, value):
    try:
        level = "high" if float(value) >= 3 else "low"
    except (TypeError, ValueError):
        level = "unclear"
    return f"A {level} {trait} answer ({value}): noted for the profile."


class Breaker:
    """Opens after `failures` consecutive failures; after `cooldown` seconds open it is half-open
    and lets one trial call through: a success closes it, a failure opens it again.
    on_change(old, new) is called on every transition (the worker sets its gauge there)."""

    def __init__(self, failures=5, cooldown=30.0, clock=time.monotonic, on_change=None):
        if failures < 1 or cooldown <= 0:
            raise ValueError("a breaker needs failures >= 1 and cooldown > 0")
        self.threshold, self.cooldown, self.clock = failures, cooldown, clock
        self.on_change = on_change or (lambda old, new: None)
        self.lock = threading.Lock()
        self.state_value = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.trial = False  # a half-open trial call is in flight

    def _set(self, new):
        old, self.state_value = self.state_value, new
        if old != new:
            self.on_change(old, new)

    def _advance(self):
        if self.state_value == OPEN and self.clock() - self.opened_at >= self.cooldown:
            self.trial = False
            self._set(HALF_OPEN)

    @property
    def state(self):
        """The state now (an open breaker whose cool-down has passed turns half-open here)."""
        with self.lock:
            self._advance()
            return self.state_value

    def refresh(self):
        """The state now; the worker calls it on every loop so that the gauge turns half-open
        once the cool-down has passed, whether events arrive or not."""
        return self.state

    def allow(self):
        """Whether a call may go to the dependency now."""
        with self.lock:
            self._advance()
            if self.state_value == CLOSED:
                return True
            if self.state_value == HALF_OPEN and not self.trial:
                self.trial = True
                return True
            return False

    def success(self):
        with self.lock:
            self.failures, self.trial = 0, False
            self._set(CLOSED)

    def failure(self):
        with self.lock:
            self.failures += 1
            self.trial = False
            if self.state_value == HALF_OPEN or self.failures >= self.threshold:
                self.opened_at = self.clock()
                self._set(OPEN)


@dataclass(frozen=True)
class Analysis:
    model: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost: float       # USD billed; 0 for a fallback
    source: str       # "provider" (the configured URL answered), "local" (no URL), "fallback"
    reason: str = ""  # a fallback's cause: "error" (the call failed) or "breaker_open" (not tried)

    @property
    def billed(self):
        return self.source != "fallback"


def post_json(url, body, timeout):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # raises HTTPError for 4xx/5xx
        return json.loads(response.read())


def completion_request(model, trait, value):
    return {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                     {"role": "user", "content": user_prompt(trait, value)}],
        "max_tokens": COMPLETION_TOKENS,
    }


def read_completion(answer):
    """(text, prompt_tokens, completion_tokens) of a chat-completion answer; raises ValueError
    on an answer without them."""
    try:
        text = answer["choices"][0]["message"]["content"]
        usage = answer["usage"]
        prompt, completion = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"not a chat completion: {exc!r}") from None
    if not isinstance(text, str) or prompt < 0 or completion < 0:
        raise ValueError("not a chat completion: bad content or usage")
    return text, prompt, completion


class Router:
    """Analyses one answer: the model from the event id, the call through the breaker, the
    analysis computed locally when the provider fails or the breaker is open (not billed)."""

    def __init__(self, url="", timeout=2.0, breaker=None, post=post_json):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.breaker = breaker or Breaker()
        self.post = post
        self.last_error = None

    def analyse(self, event_id, trait, value):
        model = choose_model(event_id)
        if not self.url:
            return Analysis(model, local_analysis(trait, value), PROMPT_TOKENS, COMPLETION_TOKENS,
                            call_cost(model, PROMPT_TOKENS, COMPLETION_TOKENS), "local")
        fallback = Analysis(model, local_analysis(trait, value), 0, 0, 0.0, "fallback")
        if not self.breaker.allow():
            return replace(fallback, reason="breaker_open")
        try:
            answer = self.post(self.url + COMPLETIONS_PATH, completion_request(model, trait, value), self.timeout)
            text, prompt, completion = read_completion(answer)
        except Exception as exc:  # any failure of the provider is the breaker's business
            self.last_error = exc
            self.breaker.failure()
            return replace(fallback, reason="error")
        self.breaker.success()
        return Analysis(model, text, prompt, completion, call_cost(model, prompt, completion), "provider")
