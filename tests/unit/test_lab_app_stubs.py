"""The lab's stand-ins (lab/app/selfology_app/stubs.py), started in-process on a free port: the
Telegram Bot API records each sendMessage as Alertmanager 0.25 sends it, the AI provider answers
chat completions with the usage the router bills and fails on demand."""
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from lab import ROOT

sys.path.insert(0, str(ROOT / "lab" / "app"))

from selfology_app import ai, stubs  # noqa: E402  (standard library only)

TOKEN = "123456789:AAH-secret_Token-value"


class Running:
    def __init__(self, name, env):
        self.server = stubs.make_server(name, 0, env)
        self.stub = self.server.RequestHandlerClass.stub
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def request(self, method, path, body=None, content_type="application/json"):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": content_type} if data is not None else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def telegram(tmp_path):
    running = Running("telegram-stub", {"SELFOLOGY_STUB_LOG": str(tmp_path / "messages.jsonl")})
    running.log = tmp_path / "messages.jsonl"
    yield running
    running.stop()


@pytest.fixture
def provider():
    running = Running("ai-stub", {})
    yield running
    running.stop()


# What Alertmanager 0.25's telegram notifier (telebot v3) posts: a JSON object of strings.
ALERTMANAGER_BODY = {
    "chat_id": "-1001234567890",
    "text": "<b>[FIRING:1] ServiceDown</b>\nservice: analysis-worker, severity: critical\nselfops status",
    "parse_mode": "HTML",
    "disable_web_page_preview": "true",
    "disable_notification": "true",
}


def test_send_message_is_recorded_and_answered_as_telegram_does(telegram):
    status, answer = telegram.request("POST", f"/bot{TOKEN}/sendMessage", ALERTMANAGER_BODY)
    assert status == 200 and answer["ok"] is True
    result = answer["result"]
    # Alertmanager reads result.message_id and result.chat.id (an integer) after a send
    assert result["message_id"] == 1 and result["chat"]["id"] == -1001234567890
    assert result["from"] == {"id": 123456789, "is_bot": True, "first_name": "Selfology stub",
                              "username": "selfology_stub_bot"}
    assert result["text"] == ALERTMANAGER_BODY["text"] and isinstance(result["date"], int)

    status, listed = telegram.request("GET", "/messages")
    assert status == 200 and listed["count"] == 1
    (message,) = listed["messages"]
    assert message["chat_id"] == "-1001234567890" and message["text"] == ALERTMANAGER_BODY["text"]
    assert message["token"] == "123456789:***"
    assert message["parse_mode"] == "HTML" and message["disable_notification"] is True
    assert message["time"].endswith("+00:00")
    # the token is never kept whole, in memory or in the file
    logged = [json.loads(line) for line in telegram.log.read_text().splitlines()]
    assert logged == [message]
    assert "secret" not in telegram.log.read_text()


def test_a_form_body_a_numeric_chat_and_a_path_prefix_are_accepted(telegram):
    form = urllib.parse.urlencode({"chat_id": "42", "text": "Deployment v1.2.0 successful"}).encode()
    assert telegram.request("POST", f"/bot{TOKEN}/sendMessage", form, "application/x-www-form-urlencoded")[0] == 200
    # the collection's own telegram module sends chat_id as given and a JSON boolean
    status, answer = telegram.request("POST", f"//bot{TOKEN}/sendMessage",
                                      {"chat_id": 77, "text": "hi", "disable_web_page_preview": True})
    assert status == 200 and answer["result"]["chat"] == {"id": 77, "type": "private"}
    status, answer = telegram.request("POST", f"/bot{TOKEN}/sendMessage", {"chat_id": "@alerts", "text": "hi"})
    assert status == 200 and answer["result"]["chat"]["type"] == "channel"
    assert isinstance(answer["result"]["chat"]["id"], int)
    assert [m["message_id"] for m in telegram.request("GET", "/messages")[1]["messages"]] == [1, 2, 3]


def test_messages_are_listed_by_chat_and_cleared(telegram):
    for chat, text in (("-100", "to the on-call"), ("-200", "to the secondary"), ("-100", "resolved")):
        telegram.request("POST", f"/bot{TOKEN}/sendMessage", {"chat_id": chat, "text": text})
    status, listed = telegram.request("GET", "/messages?chat_id=-100")
    assert [m["text"] for m in listed["messages"]] == ["to the on-call", "resolved"]
    assert telegram.request("GET", "/messages?chat_id=-999")[1] == {"count": 0, "messages": []}
    assert telegram.request("DELETE", "/messages") == (200, {"deleted": 3})
    assert telegram.request("GET", "/messages")[1]["count"] == 0
    assert len(telegram.log.read_text().splitlines()) == 3  # the file is the history: it is kept


@pytest.mark.parametrize("body, description", [
    ({"text": "no chat"}, "Bad Request: chat_id is empty"),
    ({"chat_id": "-100", "text": "  "}, "Bad Request: message text is empty"),
    ({"chat_id": "-100", "text": "x" * 4097}, "Bad Request: message is too long"),
])
def test_what_telegram_refuses_is_refused_and_not_recorded(telegram, body, description):
    status, answer = telegram.request("POST", f"/bot{TOKEN}/sendMessage", body)
    assert status == 400 and answer == {"ok": False, "error_code": 400, "description": description}
    assert telegram.request("GET", "/messages")[1]["count"] == 0


@pytest.mark.parametrize("text, accepted", [
    ("<b>ServiceDown</b> &lt; 100 pending &amp; <i>rising</i> <a href=\"http://x\">link</a>", True),
    ("pending 1500 > 1000 (a bare > is fine)", True),
    ("pending < 100", False),                   # a bare < must be &lt;
    ("<br>line", False),                        # not a tag Telegram knows
    ("<b>unclosed", False),
    ("<b><i>crossed</b></i>", False),
])
def test_html_parse_mode_is_checked_as_telegram_checks_it(telegram, text, accepted):
    status, answer = telegram.request("POST", f"/bot{TOKEN}/sendMessage",
                                      {"chat_id": "-100", "text": text, "parse_mode": "HTML"})
    assert (status == 200) is accepted, answer
    if not accepted:
        assert answer["description"].startswith("Bad Request: can't parse entities")
    # without a parse mode the same text is plain text
    assert telegram.request("POST", f"/bot{TOKEN}/sendMessage", {"chat_id": "-100", "text": text})[0] == 200


def test_other_paths_health_and_get_me(telegram):
    assert telegram.request("GET", "/health") == (200, {"status": "healthy", "service": "telegram-stub", "messages": 0})
    assert telegram.request("POST", f"/bot{TOKEN}/getMe")[1]["result"]["id"] == 123456789
    assert telegram.request("POST", f"/bot{TOKEN}/sendPhoto", {"chat_id": "1"})[0] == 404
    assert telegram.request("GET", "/nothing")[0] == 404


def test_mask_token():
    assert stubs.mask_token(TOKEN) == "123456789:***"
    assert stubs.mask_token("no-colon-token") == "***"
    assert stubs.mask_token("abc:def") == "***"


def completion(running, model="gpt-4o"):
    return running.request("POST", "/v1/chat/completions", {
        "model": model, "messages": [{"role": "system", "content": ai.SYSTEM_PROMPT},
                                     {"role": "user", "content": ai.user_prompt("openness", 4)}]})


def test_the_ai_stub_answers_a_completion_with_the_billed_usage(provider):
    status, answer = completion(provider, "claude")
    assert status == 200 and answer["model"] == "claude" and answer["object"] == "chat.completion"
    assert ai.read_completion(answer) == (answer["choices"][0]["message"]["content"],
                                          ai.PROMPT_TOKENS, ai.COMPLETION_TOKENS)
    assert "openness" in answer["choices"][0]["message"]["content"]
    assert completion(provider, "gpt-5")[0] == 400
    assert provider.request("GET", "/stats")[1]["by_model"] == {"claude": 1}


def test_the_ai_stub_fails_the_share_it_is_told_and_the_router_breaker_opens(provider):
    assert provider.request("POST", "/fault", {"fail_rate": 0.25})[1]["fail_rate"] == 0.25
    codes = [completion(provider)[0] for _n in range(8)]
    assert codes == [200, 200, 200, 503, 200, 200, 200, 503]
    provider.request("POST", "/fault", {"fail_rate": 1})
    router = ai.Router(provider.url, timeout=5, breaker=ai.Breaker(3, 60))
    reasons = [router.analyse(event_id, "openness", 4).reason for event_id in range(1, 6)]
    assert reasons == ["error", "error", "error", "breaker_open", "breaker_open"]
    assert router.breaker.state == ai.OPEN
    provider.request("POST", "/fault", {"fail_rate": 0})
    router = ai.Router(provider.url, timeout=5)
    analysis = router.analyse(9, "openness", 4)
    assert (analysis.model, analysis.source) == ("claude", "provider")
    assert analysis.cost == pytest.approx(0.0042)
    stats = provider.request("GET", "/stats")[1]
    assert (stats["calls"], stats["failed"]) == (12, 5)
    assert provider.request("POST", "/fault", {"fail_rate": 2})[0] == 400


@pytest.mark.parametrize("rate, first_ten", [
    (0.0, []), (1.0, list(range(1, 11))), (0.2, [5, 10]), (0.5, [2, 4, 6, 8, 10]), (0.1, [10]),
])
def test_the_failure_pattern_is_exact(rate, first_ten):
    assert [n for n in range(1, 11) if stubs.fails(n, rate)] == first_ten
    assert sum(stubs.fails(n, rate) for n in range(1, 1001)) == round(1000 * rate)


def test_an_unknown_stand_in_is_refused():
    with pytest.raises(ValueError):
        stubs.make_server("sms-stub", 0, {})
