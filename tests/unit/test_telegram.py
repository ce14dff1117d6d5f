"""Telegram notifications against a local stand-in for the Bot API (this machine cannot reach Telegram)."""
import http.server
import json
import socket
import threading

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import telegram

TOKEN = "123456789:AAH-secret_Token-value"


class FakeBotAPI(http.server.BaseHTTPRequestHandler):
    """Answers sendMessage as the Bot API does; the test sets what it answers and reads what it got."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server = self.server
        server.requests.append(dict(path=self.path, body=json.loads(body), content_type=self.headers["Content-Type"]))
        status, answer = server.answer
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeBotAPI)
    server.requests = []
    server.answer = (200, {"ok": True, "result": {"message_id": 77, "chat": {"id": -100123}}})
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_send_message_posts_to_the_bot_api(api):
    result = telegram.send_message(TOKEN, "-100123", "Deployment v1.2.0 successful", api_url=api.url + "/")
    assert result == {"sent": True, "message_id": 77, "text": "Deployment v1.2.0 successful"}
    (request,) = api.requests
    assert request["path"] == "/bot%s/sendMessage" % TOKEN
    assert request["content_type"] == "application/json"
    assert request["body"] == {"chat_id": "-100123", "text": "Deployment v1.2.0 successful",
                               "disable_web_page_preview": True}


def test_long_text_is_cut_to_what_telegram_accepts(api):
    result = telegram.send_message(TOKEN, "@alerts", "x" * 5000, api_url=api.url)
    assert len(result["text"]) == 4096 and result["text"].endswith("\u2026")
    assert api.requests[0]["body"]["text"] == result["text"]


def test_check_mode_sends_nothing(api):
    result = telegram.send_message(TOKEN, "-100123", "would go out", api_url=api.url, check_mode=True)
    assert result == {"sent": False, "message_id": None, "text": "would go out"}
    assert api.requests == []


@pytest.mark.parametrize("status, answer, expected", [
    (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, "answered 401"),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, "chat not found"),
    (200, {"ok": False, "description": "token %s revoked" % TOKEN}, "revoked"),
    (502, {"html": "bad gateway"}, "answered 502"),
])
def test_api_errors_never_show_the_token(api, status, answer, expected):
    api.answer = (status, answer)
    with pytest.raises(telegram.NotificationFailed) as failed:
        telegram.send_message(TOKEN, "-100123", "hello", api_url=api.url)
    message = str(failed.value)
    assert expected in message and "/bot********/sendMessage" in message
    assert TOKEN not in message and "AAH-secret" not in message


def test_unreachable_api_never_shows_the_token():
    with pytest.raises(telegram.NotificationFailed, match="did not answer") as failed:
        telegram.send_message(TOKEN, "-100123", "hello", api_url="http://127.0.0.1:%d" % free_port(), timeout=2)
    assert "AAH-secret" not in str(failed.value)


@pytest.mark.parametrize("api_url", ["http://127.0.0.1:notaport", "http://[::1", "ftp://example.org"])
def test_bad_urls_never_show_the_token(api_url):
    with pytest.raises(telegram.NotificationFailed) as failed:
        telegram.send_message(TOKEN, "-100123", "hello", api_url=api_url + "/" + TOKEN, timeout=2)
    assert "AAH-secret" not in str(failed.value)


def test_scrub_masks_plain_and_quoted_forms():
    text = "GET /bot%s/x and /bot%s/y" % (TOKEN, TOKEN.replace(":", "%3A"))
    assert telegram.scrub(text, TOKEN) == "GET /bot********/x and /bot********/y"
