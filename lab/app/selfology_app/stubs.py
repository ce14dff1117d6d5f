"""Stand-ins for what the lab cannot reach, run from the services image:
`python3 -m selfology_app telegram-stub` and `python3 -m selfology_app ai-stub` (or
SELFOLOGY_SERVICE=<name>). They listen on PORT (8000), answer /health, and need neither
PostgreSQL nor Redis: standard library only.

telegram-stub, the Telegram Bot API as Alertmanager's telegram_configs use it (api_url points
here): POST /bot<token>/sendMessage with chat_id, text, parse_mode, disable_notification (a JSON
body, as Alertmanager 0.25's client sends every value as a string, or a form body or query
string) answers {"ok": true, "result": <Message>} and records the message; with parse_mode HTML
it refuses, as Telegram does, text that is not Telegram's HTML ("can't parse entities").
GET /messages[?chat_id=] lists what was recorded, DELETE /messages clears it. The token is never
recorded or printed whole: only its bot id part (123456:***). With SELFOLOGY_STUB_LOG set, each
message is also appended to that file as a JSON line.

ai-stub, an AI provider: POST /v1/chat/completions answers a chat completion with a short
analysis and the usage the router bills (ai.PROMPT_TOKENS, ai.COMPLETION_TOKENS). To exercise the
worker's circuit breaker it fails a share of calls with 503 (SELFOLOGY_AI_STUB_FAIL_RATE, 0..1,
exactly that share, evenly spread) and can be slow (SELFOLOGY_AI_STUB_DELAY seconds); POST /fault
{"fail_rate": .., "delay_seconds": ..} changes both while it runs; GET /stats counts the calls.
"""
import datetime
import json
import os
import re
import signal
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import ai

STUBS = ("telegram-stub", "ai-stub")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class JSONHandler(BaseHTTPRequestHandler):
    """Parses the request (path, query, JSON or form body) and sends JSON; subclasses answer
    route(method, path, query, body) -> (status, body)."""

    protocol_version = "HTTP/1.1"
    stub = None

    def log_message(self, fmt, *args):  # request lines carry the bot token: never printed
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        form = (self.headers.get("Content-Type") or "").split(";")[0].strip() == "application/x-www-form-urlencoded"
        if form and not raw.lstrip().startswith(b"{"):  # curl -d '{...}' says form and sends JSON
            return {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("the body is not a JSON object")
        return body

    def _dispatch(self, method):
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = self._body()
        except (ValueError, UnicodeDecodeError) as exc:
            self._send(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        try:
            status, answer = self.route(method, parts.path, query, body)
        except Exception as exc:  # a stand-in answers, it does not die
            status, answer = 500, {"ok": False, "error_code": 500, "description": type(exc).__name__}
        self._send(status, answer)

    def route(self, method, path, query, body):
        raise NotImplementedError

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")


# ---- telegram-stub -------------------------------------------------------------------------

BOT_METHOD = re.compile(r"/bot([^/]+)/([A-Za-z]+)$")  # tolerates an api_url with a path or a trailing /
# Telegram's HTML parse mode: these tags, the entities &lt; &gt; &amp; &quot; and numeric ones;
# any other "<" is an error. An "&" that starts no entity stays literal.
HTML_TAGS = {"a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
             "tg-emoji", "code", "pre", "blockquote"}
HTML_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)(\s[^<>]*)?>")


def mask_token(token):
    """The bot id part of a token, the secret part masked: 123456:ABC-DEF -> 123456:***."""
    bot_id, sep, _secret = token.partition(":")
    return f"{bot_id}:***" if sep and bot_id.isdigit() else "***"


def html_error(text):
    """Why Telegram would refuse text in parse_mode HTML, or None."""
    stack, at = [], 0
    while (at := text.find("<", at)) != -1:
        offset = len(text[:at].encode())
        match = HTML_TAG.match(text, at)
        if match is None:
            return f'can\'t parse entities: Unsupported start tag "" at byte offset {offset}'
        closing, name = match.group(1), match.group(2).lower()
        if name not in HTML_TAGS:
            return f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {offset}'
        if closing:
            if not stack or stack[-1] != name:
                expected = f'"</{stack[-1]}>"' if stack else "no end tag"
                return f"can't parse entities: Unmatched end tag at byte offset {offset}, expected {expected}, found \"</{name}>\""
            stack.pop()
        else:
            stack.append(name)
        at = match.end()
    if stack:
        return f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return None


def _flag(value):
    return value is True or str(value).lower() in ("true", "1")


def _chat(chat_id):
    """The Chat object of a reply: Alertmanager reads result.chat.id as an integer."""
    if re.fullmatch(r"-?\d+", chat_id):
        number = int(chat_id)
        return {"id": number, "type": "private" if number > 0 else "supergroup"}
    name = chat_id.lstrip("@")
    return {"id": -(1_000_000_000_000 + zlib.crc32(name.encode())), "type": "channel", "username": name}


class TelegramStub:
    """The recorded messages, in memory (and in the JSON-lines file log_path when given)."""

    def __init__(self, log_path=None, clock=time.time):
        self.log_path, self.clock = log_path, clock
        self.lock = threading.Lock()
        self.messages = []
        self.next_id = 1

    def send_message(self, token, params):
        chat_id = str(params.get("chat_id", "")).strip()
        text = params.get("text")
        text = "" if text is None else str(text)
        parse_mode = str(params.get("parse_mode") or "")
        if not chat_id:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"}
        if not text.strip():
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if len(text) > 4096:
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
        if parse_mode.upper() == "HTML" and (error := html_error(text)):
            return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {error}"}
        bot_id = token.partition(":")[0]
        now = self.clock()
        with self.lock:
            message_id, self.next_id = self.next_id, self.next_id + 1
            record = {
                "message_id": message_id,
                "time": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(timespec="milliseconds"),
                "token": mask_token(token),
                "chat_id": chat_id,
                "text": text,
                "parse_mode": parse_mode,
                "disable_notification": _flag(params.get("disable_notification", False)),
            }
            self.messages.append(record)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")
        return 200, {"ok": True, "result": {
            "message_id": message_id,
            "from": {"id": int(bot_id) if bot_id.isdigit() else 0, "is_bot": True,
                     "first_name": "Selfology stub", "username": "selfology_stub_bot"},
            "chat": _chat(chat_id),
            "date": int(now),
            "text": text,
        }}

    def list(self, chat_id=None):
        with self.lock:
            return [m for m in self.messages if chat_id is None or m["chat_id"] == str(chat_id)]

    def clear(self):
        with self.lock:
            count, self.messages = len(self.messages), []
        return count


class TelegramHandler(JSONHandler):
    def route(self, method, path, query, body):
        stub = self.stub
        if path == "/health":
            return 200, {"status": "healthy", "service": "telegram-stub", "messages": len(stub.list())}
        if path == "/messages":
            if method == "GET":
                messages = stub.list(query.get("chat_id"))
                return 200, {"count": len(messages), "messages": messages}
            if method == "DELETE":
                return 200, {"deleted": stub.clear()}
        match = BOT_METHOD.search(path)
        if match and method in ("GET", "POST"):
            token, name = match.groups()
            params = {**query, **body}
            if name == "sendMessage":
                return stub.send_message(token, params)
            if name == "getMe":
                bot_id = token.partition(":")[0]
                return 200, {"ok": True, "result": {"id": int(bot_id) if bot_id.isdigit() else 0, "is_bot": True,
                                                    "first_name": "Selfology stub", "username": "selfology_stub_bot"}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}


# ---- ai-stub -------------------------------------------------------------------------------

def fails(n, rate):
    """Whether call n (from 1) fails at this rate: exactly floor(n * rate) of the first n calls
    fail, evenly spread (rate 0.2: calls 5, 10, 15, ...)."""
    return int(n * rate + 1e-9) > int((n - 1) * rate + 1e-9)


class AIStub:
    def __init__(self, fail_rate=0.0, delay_seconds=0.0):
        self.lock = threading.Lock()
        self.calls = 0
        self.failed = 0
        self.by_model = {}
        self.fail_rate = self.delay_seconds = 0.0
        self.set_fault(fail_rate, delay_seconds)

    def set_fault(self, fail_rate=None, delay_seconds=None):
        """Changes what is given (None keeps it); the call count goes on."""
        rate = self.fail_rate if fail_rate is None else float(fail_rate)
        delay = self.delay_seconds if delay_seconds is None else float(delay_seconds)
        if not 0 <= rate <= 1:
            raise ValueError("fail_rate must be between 0 and 1")
        if delay < 0:
            raise ValueError("delay_seconds must be 0 or more")
        with self.lock:
            self.fail_rate, self.delay_seconds = rate, delay

    def stats(self):
        with self.lock:
            return {"calls": self.calls, "failed": self.failed, "by_model": dict(self.by_model),
                    "fail_rate": self.fail_rate, "delay_seconds": self.delay_seconds}

    def complete(self, body):
        model = body.get("model")
        messages = body.get("messages")
        if model not in ai.MODELS or not isinstance(messages, list) or not messages:
            return 400, {"error": {"type": "invalid_request_error",
                                   "message": f"expected a model of {list(ai.MODELS)} and messages"}}
        with self.lock:
            self.calls += 1
            n, failing, delay = self.calls, fails(self.calls, self.fail_rate), self.delay_seconds
            if failing:
                self.failed += 1
            else:
                self.by_model[model] = self.by_model.get(model, 0) + 1
        if delay:
            time.sleep(delay)
        if failing:
            return 503, {"error": {"type": "server_error", "message": "injected fault: the provider is unavailable"}}
        question = str(messages[-1].get("content", "")) if isinstance(messages[-1], dict) else ""
        text = f"Instant analysis ({model}): {question[:120]} This suggests a consistent trait."
        return 200, {
            "id": f"chatcmpl-stub-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": ai.PROMPT_TOKENS, "completion_tokens": ai.COMPLETION_TOKENS,
                      "total_tokens": ai.PROMPT_TOKENS + ai.COMPLETION_TOKENS},
        }


class AIHandler(JSONHandler):
    def route(self, method, path, query, body):
        stub = self.stub
        if path == "/health":
            return 200, {"status": "healthy", "service": "ai-stub", **stub.stats()}
        if path == "/stats" and method == "GET":
            return 200, stub.stats()
        if path == "/fault" and method == "POST":
            try:
                stub.set_fault(body.get("fail_rate"), body.get("delay_seconds"))
            except (TypeError, ValueError) as exc:
                return 400, {"error": {"type": "invalid_request_error", "message": str(exc)}}
            return 200, stub.stats()
        if path in (ai.COMPLETIONS_PATH, "/chat/completions") and method == "POST":
            return stub.complete(body)
        return 404, {"error": {"type": "invalid_request_error", "message": f"no route {method} {path}"}}


def _rate(env, name):
    try:
        return float(env.get(name) or 0)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {env.get(name)!r}") from None


def make_server(name, port=0, env=None):
    """The stand-in's server on port (0: any free one), not yet serving; its stub is
    server.RequestHandlerClass.stub."""
    env = os.environ if env is None else env
    if name == "telegram-stub":
        handler = type("Handler", (TelegramHandler,), {"stub": TelegramStub(env.get("SELFOLOGY_STUB_LOG") or None)})
    elif name == "ai-stub":
        stub = AIStub(_rate(env, "SELFOLOGY_AI_STUB_FAIL_RATE"), _rate(env, "SELFOLOGY_AI_STUB_DELAY"))
        handler = type("Handler", (AIHandler,), {"stub": stub})
    else:
        raise ValueError(f"unknown stand-in {name!r}")
    return Server(("0.0.0.0", port), handler)


def run(name):
    try:
        server = make_server(name, int(os.environ.get("PORT", "8000")))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stopping.set())
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {name} listening on :{server.server_address[1]}", flush=True)
    stopping.wait()
    server.shutdown()
    server.server_close()
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {name} stopped", flush=True)
