"""outbox-relay: publishes pending outbox rows to the Redis stream, at least once.

A batch is locked (SKIP LOCKED, so relays in both slots can run), written to the stream,
and only then marked published in the same transaction. A crash between the two leaves
the rows pending and they are published again: the outbox id travels in every entry so
that consumers can drop the duplicate.
"""
import json

from prometheus_client import Counter

from .runtime import Runtime, serve

RELAYED = Counter("selfology_outbox_relayed_total", "Outbox rows published to the stream", ["slot"])
ERRORS = Counter("selfology_outbox_relay_errors_total", "Relay batches that failed", ["slot"])

BATCH = 200
IDLE_WAIT = 0.1

SELECT_PENDING = """
    SELECT id, event_type, payload, created_at
    FROM selfology.event_outbox
    WHERE status = 'pending'
    ORDER BY created_at, id
    LIMIT %s
    FOR UPDATE SKIP LOCKED
"""
MARK_PUBLISHED = "UPDATE selfology.event_outbox SET status = 'published', published_at = now() WHERE id = ANY(%s)"


def stream_for(settings, event_type, payload):
    """Smoke events name the slot they test and go to that slot's smoke stream."""
    if event_type == "smoke.ping" and isinstance(payload, dict) and payload.get("slot"):
        return settings.smoke_stream(payload["slot"])
    return settings.stream


def relay_batch(runtime):
    """Publishes one batch; returns how many rows it published."""
    settings = runtime.settings
    with runtime.db() as conn:
        with conn.transaction():
            rows = conn.execute(SELECT_PENDING, (BATCH,)).fetchall()
            if not rows:
                return 0
            pipe = runtime.redis.pipeline(transaction=False)
            for event_id, event_type, payload, created_at in rows:
                pipe.xadd(stream_for(settings, event_type, payload), {
                    "outbox_id": event_id,
                    "event_type": event_type,
                    "payload": json.dumps(payload),
                    "created_at": created_at.isoformat(),
                })
            pipe.execute()
            conn.execute(MARK_PUBLISHED, ([row[0] for row in rows],))
    RELAYED.labels(settings.slot).inc(len(rows))
    return len(rows)


def run(settings):
    runtime = Runtime(settings)
    server = serve(runtime)
    while not runtime.stopping.is_set():
        try:
            if relay_batch(runtime) < BATCH:
                runtime.stopping.wait(IDLE_WAIT)
        except Exception as exc:  # keep relaying once the database or Redis is back
            ERRORS.labels(settings.slot).inc()
            runtime.log(f"ERROR relay batch failed: {exc!r}")
            runtime.stopping.wait(1.0)
    server.shutdown()
    runtime.pool.close()
    runtime.log("stopped")
