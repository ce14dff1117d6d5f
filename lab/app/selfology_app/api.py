"""question-selection and session-management: HTTP services behind the load balancer."""
import json
import queue
import threading

from prometheus_client import Counter

from .runtime import Runtime, serve

QUESTIONS = [
    {"id": 1, "trait": "openness", "text": "Do you enjoy trying new things?"},
    {"id": 2, "trait": "conscientiousness", "text": "Do you plan your week ahead?"},
    {"id": 3, "trait": "extraversion", "text": "Do crowds give you energy?"},
    {"id": 4, "trait": "agreeableness", "text": "Do you find it easy to forgive?"},
    {"id": 5, "trait": "neuroticism", "text": "Do small setbacks stay with you?"},
]


ONBOARDING_ANSWERS = len(QUESTIONS)  # the onboarding is the five questions
ONBOARDING_KEY = "selfology:onboarding:answers:{user_id}"
ONBOARDING_TTL = 7 * 86400  # seconds; a key that expired is seeded again from answers_count


def onboarding_steps(ordinal):
    """What a user's ordinal-th answer (counted from 1) means for the onboarding: the first
    starts it, the fifth completes it."""
    steps = []
    if ordinal == 1:
        steps.append("started")
    if ordinal == ONBOARDING_ANSWERS:
        steps.append("completed")
    return steps


class Onboarding:
    """session-management's onboarding counters, selfology_onboarding_started_total and
    selfology_onboarding_completed_total.

    The rule: each accepted answer (after its outbox row committed) gets its ordinal among the
    user's answers from a Redis counter, INCR selfology:onboarding:answers:<user_id>; ordinal 1
    counts a start, ordinal 5 a completion. INCR is atomic, so concurrent answers of one user,
    through any replica of either slot, get distinct ordinals and each user counts once. A
    missing key (new user, expired after 7 days, or Redis lost it) is first seeded with SET NX
    from personality_profiles.answers_count, read before the answer's insert: the answers the
    worker has applied. answers_count alone would not do: it lags the answers still in the outbox
    or the stream, so a user answering quickly would start twice.

    The Redis calls run on a thread of their own, off the request: an answer is accepted into
    the outbox with Redis down or slow, as before; its count is then lost (and logged once)."""

    def __init__(self, runtime, started, completed):
        self.runtime, self.started, self.completed = runtime, started, completed
        self.queue = queue.Queue(maxsize=10000)
        self.failing = False
        threading.Thread(target=self._run, name="onboarding", daemon=True).start()

    def record(self, user_id, applied):
        try:
            self.queue.put_nowait((user_id, applied))
        except queue.Full:
            pass  # Redis has been failing for a while; counts are already being lost

    def ordinal(self, user_id, applied):
        key = ONBOARDING_KEY.format(user_id=user_id)
        pipe = self.runtime.redis.pipeline(transaction=True)
        pipe.set(key, int(applied), nx=True, ex=ONBOARDING_TTL)
        pipe.incr(key)
        pipe.expire(key, ONBOARDING_TTL)
        return int(pipe.execute()[1])

    def count(self, user_id, applied):
        steps = onboarding_steps(self.ordinal(user_id, applied))
        if "started" in steps:
            self.started.inc()
        if "completed" in steps:
            self.completed.inc()
        return steps

    def _run(self):
        while True:
            user_id, applied = self.queue.get()
            try:
                self.count(user_id, applied)
            except Exception as exc:  # Redis down: the answer stands, its onboarding count is lost
                if not self.failing:
                    self.runtime.log(f"onboarding counts lost until Redis answers: {exc!r}")
                self.failing = True
            else:
                if self.failing:
                    self.runtime.log("onboarding counts resumed")
                self.failing = False


def _user_id(path, position):
    try:
        return int(path.rstrip("/").split("/")[position])
    except (IndexError, ValueError):
        return None


def next_question(handler, path):
    """GET /api/questions/next/<user_id>: the next question, chosen from the user's progress."""
    user_id = _user_id(path, 4) or 0
    with handler.runtime.db() as conn:
        row = conn.execute(
            "SELECT answers_count FROM selfology.personality_profiles WHERE user_id = %s", (user_id,)
        ).fetchone()
    answered = row[0] if row else 0
    question = QUESTIONS[answered % len(QUESTIONS)]
    return 200, {"user_id": user_id, "question": question, "served_by": handler.runtime.version()}


def submit_answer(handler, path):
    """POST /api/sessions/<user_id>/answers: records the answer as an outbox event (transactional outbox)."""
    user_id = _user_id(path, 3)
    body = handler.read_json()
    trait, value = body.get("trait"), body.get("value")
    if user_id is None or not isinstance(trait, str) or not isinstance(value, (int, float)):
        return 400, {"error": "expected /api/sessions/<user_id>/answers with JSON {trait, value}"}
    payload = {"user_id": user_id, "trait": trait, "value": value}
    with handler.runtime.db() as conn:
        row = conn.execute(
            "SELECT answers_count FROM selfology.personality_profiles WHERE user_id = %s", (user_id,)
        ).fetchone()
        event_id = conn.execute(
            "INSERT INTO selfology.event_outbox (event_type, payload) VALUES ('answer.submitted', %s) RETURNING id",
            (json.dumps(payload),),
        ).fetchone()[0]
    if handler.runtime.onboarding is not None:  # committed: the answer counts
        handler.runtime.onboarding.record(user_id, row[0] if row else 0)
    return 202, {"event_id": event_id, "served_by": handler.runtime.version()}


def get_session(handler, path):
    """GET /api/sessions/<user_id>: the user's profile as the worker has built it."""
    user_id = _user_id(path, 3)
    with handler.runtime.db() as conn:
        row = conn.execute(
            "SELECT traits, answers_count FROM selfology.personality_profiles WHERE user_id = %s", (user_id,)
        ).fetchone()
    traits, count = row if row else ({}, 0)
    return 200, {"user_id": user_id, "traits": traits, "answers_count": count, "served_by": handler.runtime.version()}


ROUTES = {
    "question-selection": {("GET", "/api/questions/next"): next_question},
    "session-management": {("POST", "/api/sessions"): submit_answer, ("GET", "/api/sessions"): get_session},
}


def run(settings):
    runtime = Runtime(settings)
    runtime.onboarding = None
    if settings.service == "session-management":  # its counters only, not question-selection's
        runtime.onboarding = Onboarding(
            runtime,
            Counter("selfology_onboarding_started_total", "Users whose first answer was accepted"),
            Counter("selfology_onboarding_completed_total", "Users whose fifth answer completed the onboarding"),
        )
    server = serve(runtime, ROUTES[settings.service])
    runtime.stopping.wait()
    # Stop accepting, let in-flight requests finish (daemon threads end with the process).
    server.shutdown()
    server.server_close()
    runtime.pool.close()
    runtime.log("stopped")
