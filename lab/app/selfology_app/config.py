"""Settings read from the environment; the lab sets them per container."""
import os
import socket
from dataclasses import dataclass

FAULTS = ("none", "unhealthy", "slow", "errors", "crash")


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
        )

    def smoke_stream(self, slot=None):
        """Smoke events addressed to one slot travel on a stream of their own, so that a
        standby slot's worker can prove the event bus works before it takes traffic."""
        return f"{self.stream}:smoke:{slot or self.slot}"
