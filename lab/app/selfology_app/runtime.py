"""What every service shares: connections, health checks, metrics and the HTTP server."""
import itertools
import json
import signal
import sys
from contextlib import contextmanager
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from psycopg_pool import ConnectionPool

REQUESTS = Counter("http_requests_total", "HTTP requests served", ["service", "slot", "endpoint", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "slot", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
INFO = Gauge("selfology_build_info", "Version and slot of this process", ["service", "slot", "version", "fault"])

# The flaky fault: the first FLAKY_AFTER requests to the service's routes succeed (the deploy's
# smoke checks send a handful), then every FLAKY_EVERY-th fails, 20 % of the traffic.
FLAKY_AFTER = 50
FLAKY_EVERY = 5


def flaky_fails(n):
    """Whether the n-th request (counted from 1) to a route of a flaky process answers 500:
    55, 60, 65, ... so exactly 20 of the requests 51..150. /health, /metrics and /version are
    not routes: they are neither counted nor failed."""
    return n > FLAKY_AFTER and (n - FLAKY_AFTER) % FLAKY_EVERY == 0


# The sluggish fault: the first SLUGGISH_AFTER route requests answer at the usual speed (the smoke
# checks pass), then every one waits SLUGGISH_SECONDS more: the p95 of the service's HTTP latency
# lands in the 0.25-0.5 s bucket, many times a healthy version's (a few ms).
SLUGGISH_AFTER = FLAKY_AFTER
SLUGGISH_SECONDS = 0.25


def sluggish_delay(n):
    """Seconds the n-th request (counted from 1) to a route of a sluggish process waits before it is
    handled: 0 up to the 50th, SLUGGISH_SECONDS from the 51st on."""
    return SLUGGISH_SECONDS if n > SLUGGISH_AFTER else 0.0


class Runtime:
    """Connections and lifecycle of one service process."""

    def __init__(self, settings):
        self.settings = settings
        self.stopping = threading.Event()
        self.route_requests = itertools.count(1)  # next() is atomic under the GIL: one ordinal each
        self.pool = ConnectionPool(
            settings.database_url, min_size=1, max_size=8, open=False, timeout=5,
            kwargs={"connect_timeout": 3, "application_name": f"{settings.service}-{settings.slot}"},
        )
        self.pool.open(wait=False)
        self.redis = redis.Redis.from_url(
            settings.redis_url, decode_responses=True, socket_timeout=5,
            socket_connect_timeout=2, health_check_interval=10,
        )
        INFO.labels(settings.service, settings.slot, settings.version, settings.fault).set(1)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, self._on_sigterm)

    def _on_sigterm(self, signum, frame):
        self.log("stopping on signal %d" % signum)
        self.stopping.set()

    def log(self, message):
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.settings.service}-{self.settings.slot} {message}", flush=True)

    @contextmanager
    def db(self):
        """A pooled connection. After a database restart every idle connection is broken:
        the first failure has the pool test and replace them, so recovery takes one request."""
        try:
            with self.pool.connection(timeout=3) as conn:
                yield conn
        except psycopg.OperationalError:
            threading.Thread(target=self.pool.check, name="pool-check", daemon=True).start()
            raise

    def check_database(self):
        try:
            with self.db() as conn:
                conn.execute("SELECT 1")
            return "healthy"
        except Exception as exc:  # health reports any failure, it does not raise
            return f"unhealthy: {type(exc).__name__}"

    def check_redis(self):
        try:
            self.redis.ping()
            return "healthy"
        except Exception as exc:
            return f"unhealthy: {type(exc).__name__}"

    def health(self):
        checks = {"database": self.check_database(), "redis": self.check_redis()}
        healthy = all(v == "healthy" for v in checks.values()) and self.settings.fault != "unhealthy"
        if self.settings.fault == "unhealthy":
            checks["fault"] = "unhealthy: injected"
        return healthy, {
            "status": "healthy" if healthy else "unhealthy",
            "service": self.settings.service,
            "slot": self.settings.slot,
            "version": self.settings.version,
            "checks": checks,
        }

    def version(self):
        s = self.settings
        return {"service": s.service, "slot": s.slot, "version": s.version}


class Handler(BaseHTTPRequestHandler):
    """Routes /health, /metrics, /version and the service's own routes."""

    runtime = None
    routes = {}  # (method, first path segment after /api/) -> callable(handler, parts) -> (status, body)
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # access logs would drown the service's own lines
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _dispatch(self, method):
        settings = self.runtime.settings
        path = urlsplit(self.path).path
        started = time.monotonic()
        endpoint = path
        try:
            if path == "/health":
                healthy, body = self.runtime.health()
                status = 200 if healthy else 503
            elif path == "/version":
                status, body = 200, self.runtime.version()
            elif path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
                return
            else:
                route, endpoint = self._find_route(method, path)
                if route is None:
                    status, body, endpoint = 404, {"error": "not found"}, "unknown"
                elif settings.fault == "errors":
                    status, body = 500, {"error": "injected fault: errors"}
                elif settings.fault == "flaky" and flaky_fails(next(self.runtime.route_requests)):
                    status, body = 500, {"error": "injected fault: flaky"}
                else:
                    if settings.fault == "slow":
                        time.sleep(settings.slow_seconds)
                    elif settings.fault == "sluggish":
                        time.sleep(sluggish_delay(next(self.runtime.route_requests)))
                    status, body = route(self, path)
        except Exception as exc:
            self.runtime.log(f"error on {method} {path}: {exc!r}")
            status, body = 500, {"error": type(exc).__name__}
        self._send(status, body)
        REQUESTS.labels(settings.service, settings.slot, endpoint, method, str(status)).inc()
        LATENCY.labels(settings.service, settings.slot, endpoint).observe(time.monotonic() - started)

    def _find_route(self, method, path):
        for (route_method, prefix), func in self.routes.items():
            if route_method == method and path.startswith(prefix):
                return func, prefix
        return None, None

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


class Server(ThreadingHTTPServer):
    """A peer closing an idle keep-alive connection (the load balancer trimming its pool) is not an
    error: socketserver would print a traceback for each one, and the morning check counts them."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def serve(runtime, routes=None):
    """Serves HTTP in a background thread until the runtime is stopping; returns the server."""
    handler = type("ServiceHandler", (Handler,), {"runtime": runtime, "routes": routes or {}})
    server = Server(("0.0.0.0", runtime.settings.port), handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    runtime.log(f"version {runtime.settings.version} listening on :{runtime.settings.port}")
    return server
