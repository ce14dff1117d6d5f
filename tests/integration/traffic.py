"""Continuous traffic through the load balancer from a separate process, counted honestly.

Two kinds of client, because they meet different faults:
- keepalive=False: every request opens its own connection (Connection: close);
- keepalive=True: each of the 16 clients keeps one HTTP/1.1 connection open and sends every
  request on it, as the Telegram bot's HTTP session or any pooled client does. A load balancer
  that closes idle connections while clients send on them fails these requests.
Nothing is retried: a reset, a refused connection, a timeout or a 5xx is counted as a failure
(a keep-alive client then opens a new connection for its next request).
"""
import http.client
import json
import multiprocessing
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


class _Client:
    """One client: a new connection per request, or one kept open across requests."""

    def __init__(self, host, port, keepalive):
        self.host, self.port, self.keepalive = host, port, keepalive
        self.conn = None
        self.opened = 0

    def request(self, method, path, body=None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            self.opened += 1
        headers = {} if self.keepalive else {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except Exception:
            self.close()
            raise
        if not self.keepalive or response.will_close:
            self.close()
        return response.status, data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _run(url, rps, user_id, seconds, stop, queue, keepalive, threads=16):
    parts = urlsplit(url)
    counts, errors, event_ids, opened = Counter(), Counter(), [], []
    slots = Counter()
    lock = threading.Lock()
    interval = threads / rps
    deadline = time.monotonic() + seconds

    def worker(offset):
        n = offset
        client = _Client(parts.hostname, parts.port, keepalive)
        next_at = time.monotonic() + offset * interval / threads
        while not stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if now < next_at:
                time.sleep(next_at - now)
            next_at += interval
            n += threads
            try:
                if n % 5 == 0:  # one in five is a write: an answer that becomes an outbox event
                    body = json.dumps({"trait": "load", "value": n})
                    status, data = client.request("POST", f"/api/sessions/{user_id}/answers", body)
                else:
                    status, data = client.request("GET", f"/api/questions/next/{n}")
                with lock:
                    counts[status] += 1
                    if status < 500:
                        payload = json.loads(data)
                        slots[payload["served_by"]["slot"]] += 1
                        if status == 202:
                            event_ids.append(payload["event_id"])
            except Exception as exc:  # counted, never retried
                with lock:
                    errors[type(exc).__name__] += 1
        client.close()
        with lock:
            opened.append(client.opened)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    queue.put({"statuses": dict(counts), "errors": dict(errors), "event_ids": event_ids,
               "slots": dict(slots), "seconds": elapsed, "connections": sum(opened), "requests": sum(counts.values()) + sum(errors.values())})


class Traffic:
    """Start with `with Traffic(url, rps=250, user_id=..., keepalive=...) as t: ...`; read t.result after the block."""

    def __init__(self, url, rps=250, user_id=1, max_seconds=900, keepalive=False):
        self.stop = multiprocessing.Event()
        self.queue = multiprocessing.Queue()
        self.process = multiprocessing.Process(
            target=_run, args=(url, rps, user_id, max_seconds, self.stop, self.queue, keepalive), daemon=True)
        self.result = None

    def __enter__(self):
        self.process.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.result = self.queue.get(timeout=60)
        self.process.join(timeout=10)
        r = self.result
        r["failed"] = sum(n for status, n in r["statuses"].items() if status >= 500) + sum(r["errors"].values())
        r["rate"] = round(r["requests"] / r["seconds"], 1) if r["seconds"] else 0.0
        return False
