"""Continuous traffic through the load balancer from a separate process, counted honestly.

Every request opens its own connection (Connection: close), so a failure is the server's,
not a client reusing a connection the server already closed. Nothing is retried: a reset,
a refused connection, a timeout or a 5xx is counted as a failure.
"""
import http.client
import json
import multiprocessing
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def _request(host, port, method, path, body=None):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _run(url, rps, user_id, seconds, stop, queue, threads=16):
    parts = urlsplit(url)
    counts, errors, event_ids = Counter(), Counter(), []
    slots = Counter()
    lock = threading.Lock()
    interval = threads / rps
    deadline = time.monotonic() + seconds

    def worker(offset):
        n = offset
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
                    status, data = _request(parts.hostname, parts.port, "POST", f"/api/sessions/{user_id}/answers", body)
                else:
                    status, data = _request(parts.hostname, parts.port, "GET", f"/api/questions/next/{n}")
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

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    queue.put({"statuses": dict(counts), "errors": dict(errors), "event_ids": event_ids,
               "slots": dict(slots), "seconds": elapsed, "requests": sum(counts.values()) + sum(errors.values())})


class Traffic:
    """Start with `with Traffic(url, rps=250, user_id=...) as t: ...`; read t.result after the block."""

    def __init__(self, url, rps=250, user_id=1, max_seconds=900):
        self.stop = multiprocessing.Event()
        self.queue = multiprocessing.Queue()
        self.process = multiprocessing.Process(
            target=_run, args=(url, rps, user_id, max_seconds, self.stop, self.queue), daemon=True)
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
