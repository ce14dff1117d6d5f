"""Settings read from the environment; the lab sets them per container."""
import os
import socket
from dataclasses import dataclass

# flaky: the HTTP routes answer 500 on every 5th request from the 51st on (runtime.flaky_fails),
# /health stays healthy: a version that passes the deploy's gates and errors under traffic.
# sluggish: the HTTP routes answer after an extra runtime.SLUGGISH_SECONDS from the 51st request on
# (runtime.sluggish_delay), /health stays fast: it passes the gates and is slow under traffic.
FAULTS = ("none", "unhealthy", "slow", "errors", "crash", "flaky", "sluggish", "crash-active")


def _positive(env, name, default):
    try:
        value = float(env.get(name, default))
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, not {env.get(name)!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be more than 0 seconds, not {value}")
    return value


def _count(env, name, default):
    try:
        value = int(env.get(name, default))
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {env.get(name)!r}") from None
    if value < 1:
        raise SystemExit(f"{name} must be at least 1, not {value}")
    return value


@dataclass(frozen=True)
class Settings:
    service: str
    slot: str
    version: str
    fault: str
    database_url: str
    redis_url: str
    stream: str
    group: str
    consumer: str
    active_slot_key: str
    port: int
    slow_seconds: float
    # The relay's check for rows Redis lost: rows published longer than republish_after
    # seconds ago, checked every republish_every seconds, looking back at most
    # republish_horizon seconds when the relay starts.
    republish_after: float = 30.0
    republish_every: float = 5.0
    republish_horizon: float = 86400.0
    # The analysis worker's AI provider (ai.Router): with no URL the router analyses locally.
    ai_url: str = ""
    ai_timeout: float = 2.0
    ai_breaker_failures: int = 5     # consecutive failures that open the breaker
    ai_breaker_cooldown: float = 30.0  # seconds open before a half-open trial call
    # How often the relay refreshes its outbox gauges (pending rows, oldest pending age).
    outbox_gauge_every: float = 5.0

    @classmethod
    def from_env(cls, service=None):
        """service, when given (python3 -m selfology_app <service>), wins over SELFOLOGY_SERVICE."""
        env = os.environ
        fault = env.get("SELFOLOGY_FAULT", "none")
        if fault not in FAULTS:
            raise SystemExit(f"SELFOLOGY_FAULT must be one of {FAULTS}, not {fault!r}")
        return cls(
            service=service or env.get("SELFOLOGY_SERVICE", ""),
            slot=env.get("SELFOLOGY_SLOT", "blue"),
            version=env.get("SELFOLOGY_VERSION", "0.0.0"),
            fault=fault,
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            stream=env.get("SELFOLOGY_STREAM", "selfology:events"),
            group=env.get("SELFOLOGY_GROUP", "analysis-workers"),
            consumer=env.get("SELFOLOGY_CONSUMER", socket.gethostname()),
            active_slot_key=env.get("SELFOLOGY_ACTIVE_SLOT_KEY", "selfology:active_slot"),
            port=int(env.get("PORT", "8000")),
            slow_seconds=float(env.get("SELFOLOGY_SLOW_SECONDS", "2.0")),
            republish_after=_positive(env, "SELFOLOGY_REPUBLISH_AFTER", "30"),
            republish_every=_positive(env, "SELFOLOGY_REPUBLISH_EVERY", "5"),
            republish_horizon=_positive(env, "SELFOLOGY_REPUBLISH_HORIZON", "86400"),
            ai_url=env.get("SELFOLOGY_AI_URL", ""),
            ai_timeout=_positive(env, "SELFOLOGY_AI_TIMEOUT", "2"),
            ai_breaker_failures=_count(env, "SELFOLOGY_AI_BREAKER_FAILURES", "5"),
            ai_breaker_cooldown=_positive(env, "SELFOLOGY_AI_BREAKER_COOLDOWN", "30"),
            outbox_gauge_every=_positive(env, "SELFOLOGY_OUTBOX_GAUGE_EVERY", "5"),
        )

    def smoke_stream(self, slot=None):
        """Smoke events addressed to one slot travel on a stream of their own, so that a
        standby slot's worker can prove the event bus works before it takes traffic."""
        return f"{self.stream}:smoke:{slot or self.slot}"
