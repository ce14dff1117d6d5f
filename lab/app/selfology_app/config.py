"""Settings read from the environment; the lab sets them per container."""
import os
import socket
from dataclasses import dataclass

FAULTS = ("none", "unhealthy", "slow", "errors", "crash")


def _positive(env, name, default):
    try:
        value = float(env.get(name, default))
    except ValueError:
        raise SystemExit(f"{name} must be a number of seconds, not {env.get(name)!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be more than 0 seconds, not {value}")
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

    @classmethod
    def from_env(cls):
        env = os.environ
        fault = env.get("SELFOLOGY_FAULT", "none")
        if fault not in FAULTS:
            raise SystemExit(f"SELFOLOGY_FAULT must be one of {FAULTS}, not {fault!r}")
        return cls(
            service=env.get("SELFOLOGY_SERVICE", ""),
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
        )

    def smoke_stream(self, slot=None):
        """Smoke events addressed to one slot travel on a stream of their own, so that a
        standby slot's worker can prove the event bus works before it takes traffic."""
        return f"{self.stream}:smoke:{slot or self.slot}"
