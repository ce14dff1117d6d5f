"""Telegram notifications against a local stand-in for the Bot API (this machine cannot reach Telegram)."""
import socket

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import telegram

TOKEN = "123456789:AAH-secret_Token-value"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_send_message_posts_to_the_bot_api(bot_api):
    result = telegram.send_message(TOKEN, "-100123", "Deployment v1.2.0 successful", api_url=bot_api.url + "/")
    assert result == {"sent": True, "message_id": 77, "text": "Deployment v1.2.0 successful"}
    (request,) = bot_api.requests
    assert request["path"] == "/bot%s/sendMessage" % TOKEN
    assert request["content_type"] == "application/json"
    assert request["body"] == {"chat_id": "-100123", "text": "Deployment v1.2.0 successful",
                               "disable_web_page_preview": True}


def test_long_text_is_cut_to_what_telegram_accepts(bot_api):
    result = telegram.send_message(TOKEN, "@alerts", "x" * 5000, api_url=bot_api.url)
    assert len(result["text"]) == 4096 and result["text"].endswith("\u2026")
    assert bot_api.requests[0]["body"]["text"] == result["text"]


def test_check_mode_sends_nothing(bot_api):
    result = telegram.send_message(TOKEN, "-100123", "would go out", api_url=bot_api.url, check_mode=True)
    assert result == {"sent": False, "message_id": None, "text": "would go out"}
    assert bot_api.requests == []


@pytest.mark.parametrize("status, answer, expected", [
    (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, "answered 401"),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, "chat not found"),
    (200, {"ok": False, "description": "token %s revoked" % TOKEN}, "revoked"),
    (502, {"html": "bad gateway"}, "answered 502"),
])
def test_api_errors_never_show_the_token(bot_api, status, answer, expected):
    bot_api.answer = (status, answer)
    with pytest.raises(telegram.NotificationFailed) as failed:
        telegram.send_message(TOKEN, "-100123", "hello", api_url=bot_api.url)
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
