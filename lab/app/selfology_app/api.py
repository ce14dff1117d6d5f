"""question-selection and session-management: HTTP services behind the load balancer."""
import json

from .runtime import Runtime, serve

QUESTIONS = [
    {"id": 1, "trait": "openness", "text": "Do you enjoy trying new things?"},
    {"id": 2, "trait": "conscientiousness", "text": "Do you plan your week ahead?"},
    {"id": 3, "trait": "extraversion", "text": "Do crowds give you energy?"},
    {"id": 4, "trait": "agreeableness", "text": "Do you find it easy to forgive?"},
    {"id": 5, "trait": "neuroticism", "text": "Do small setbacks stay with you?"},
]


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
        event_id = conn.execute(
            "INSERT INTO selfology.event_outbox (event_type, payload) VALUES ('answer.submitted', %s) RETURNING id",
            (json.dumps(payload),),
        ).fetchone()[0]
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
    server = serve(runtime, ROUTES[settings.service])
    runtime.stopping.wait()
    # Stop accepting, let in-flight requests finish (daemon threads end with the process).
    server.shutdown()
    server.server_close()
    runtime.pool.close()
    runtime.log("stopped")
