"""analysis-worker: consumes the event stream through a consumer group.

Effects are exactly-once: each event's effect and its row in selfology.processed_events
are written in one transaction, and the stream entry is acknowledged only after that
commit. A redelivered or duplicated entry finds its ledger row and changes nothing.

Only the active slot's workers consume selfology:events (the slot named by the Redis key
selfology:active_slot). Every worker always consumes its own slot's smoke stream, so a
standby slot can prove its event path before a switch.

Losing Redis (a restart without persistence, a SIGKILL) loses the stream, the group and
the key. The worker recreates the group on every loop (from id 0, so that everything the
relay republishes into a new stream is read) and restores the key from the recorded
switch in selfology.active_slot with SET NX, never overwriting a key that exists; with no
recorded row either, every worker consumes, as before.
"""
import json
import time

import psycopg
import redis
from prometheus_client import Counter, Histogram

from .runtime import Runtime, serve

PROCESSED = Counter("selfology_events_processed_total", "Events whose effect was applied", ["slot", "event_type"])
DUPLICATES = Counter("selfology_events_duplicate_total", "Redelivered events skipped by the ledger", ["slot"])
FAILURES = Counter("selfology_events_failed_batches_total", "Batches that failed and will be retried", ["slot"])
ANALYSIS = Histogram(
    "instant_analysis_duration_seconds", "Time to analyse one answer", ["slot"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
)
AI_COST = Counter("ai_cost_usd_total", "Simulated AI spend (the lab calls no AI API)", ["model"])

BATCH = 100
BLOCK_MS = 500
CLAIM_EVERY = 5.0
CLAIM_MIN_IDLE_MS = 15000
# 75% gpt-4o, 15% mini, 10% claude, as the runbook expects; prices are illustrative.
MODELS = ["gpt-4o"] * 15 + ["gpt-4o-mini"] * 3 + ["claude"] * 2
PRICES = {"gpt-4o": 0.004, "gpt-4o-mini": 0.0004, "claude": 0.006}

RECORD = """
    INSERT INTO selfology.processed_events (event_id, event_type, consumer, slot)
    VALUES (%s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING event_id
"""
TRAIT = "INSERT INTO selfology.trait_history (event_id, user_id, trait, value) VALUES (%s, %s, %s, %s)"
PROFILE = """
    INSERT INTO selfology.personality_profiles (user_id, traits, answers_count)
    VALUES (%s, jsonb_build_object(%s::text, %s::float8), 1)
    ON CONFLICT (user_id) DO UPDATE SET
        traits = personality_profiles.traits || EXCLUDED.traits,
        answers_count = personality_profiles.answers_count + 1,
        updated_at = now()
"""


RECORDED_SLOT = "SELECT slot FROM selfology.active_slot WHERE singleton"
RECORDED_RECHECK = 5.0  # seconds between database reads while neither key nor row exists


def ensure_group(client, stream, group):
    """Creates the group (and the stream) unless it exists. From id 0: a group created after
    Redis lost everything reads the whole new stream, where the relay republishes."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def is_nogroup(exc):
    return isinstance(exc, redis.ResponseError) and str(exc).startswith("NOGROUP")


def apply_effect(conn, slot, event_id, event_type, payload):
    if event_type != "answer.submitted":
        return
    started = time.monotonic()
    conn.execute(TRAIT, (event_id, payload["user_id"], payload["trait"], payload["value"]))
    conn.execute(PROFILE, (payload["user_id"], payload["trait"], payload["value"]))
    model = MODELS[event_id % len(MODELS)]
    AI_COST.labels(model).inc(PRICES[model])
    ANALYSIS.labels(slot).observe(time.monotonic() - started)


def process(runtime, batches):
    """Applies a batch of entries in one transaction, then acknowledges them."""
    s = runtime.settings
    if s.fault == "errors":
        raise RuntimeError("injected fault: errors")
    if s.fault == "slow":
        time.sleep(s.slow_seconds)
    done = []
    with runtime.db() as conn:
        with conn.transaction():
            for stream, entries in batches:
                for entry_id, fields in entries:
                    done.append((stream, entry_id))
                    if not fields or "outbox_id" not in fields:
                        runtime.log(f"ERROR dropping malformed entry {entry_id} on {stream}")
                        continue
                    event_id, event_type = int(fields["outbox_id"]), fields.get("event_type", "")
                    if conn.execute(RECORD, (event_id, event_type, s.consumer, s.slot)).fetchone() is None:
                        DUPLICATES.labels(s.slot).inc()
                        continue
                    apply_effect(conn, s.slot, event_id, event_type, json.loads(fields.get("payload") or "{}"))
                    PROCESSED.labels(s.slot, event_type).inc()
    pipe = runtime.redis.pipeline(transaction=False)
    for stream, entry_id in done:
        pipe.xack(stream, s.group, entry_id)
    pipe.execute()
    return len(done)


def consuming_slot(key_value, recorded, own_slot):
    """Whether a worker of own_slot consumes the event stream: the key names the slot; with
    no key, the recorded slot (the key is being restored from it); with neither, every
    worker consumes."""
    slot = key_value if key_value is not None else recorded
    return slot is None or slot == own_slot


class ActiveSlot:
    """The Redis key selfology:active_slot, restored from selfology.active_slot when lost."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.no_record_until = 0.0

    def recorded(self):
        if time.monotonic() < self.no_record_until:
            return None
        try:
            with self.runtime.db() as conn:
                row = conn.execute(RECORDED_SLOT).fetchone()
        except psycopg.errors.UndefinedTable:
            row = None  # a schema from before the table: as if nothing were recorded
        if row is None:
            self.no_record_until = time.monotonic() + RECORDED_RECHECK
            return None
        return row[0]

    def is_active(self):
        s, client = self.runtime.settings, self.runtime.redis
        key_value = client.get(s.active_slot_key)
        recorded = None
        if key_value is None:
            recorded = self.recorded()
            if recorded is not None:
                if client.set(s.active_slot_key, recorded, nx=True):
                    self.runtime.log(f"restored {s.active_slot_key} = {recorded} from selfology.active_slot")
                key_value = client.get(s.active_slot_key)  # whoever set it first wins
        return consuming_slot(key_value, recorded, s.slot)


def run(settings):
    runtime = Runtime(settings)
    server = serve(runtime)
    client, smoke = runtime.redis, settings.smoke_stream()
    active_slot = ActiveSlot(runtime)
    backlog = True  # after a start or a failure, finish what this consumer already holds
    last_claim = 0.0
    while not runtime.stopping.is_set():
        try:
            ensure_group(client, settings.stream, settings.group)
            ensure_group(client, smoke, settings.group)
            active = active_slot.is_active()
            streams = {smoke: "0" if backlog else ">"}
            if active:
                streams[settings.stream] = "0" if backlog else ">"
            batches = client.xreadgroup(settings.group, settings.consumer, streams, count=BATCH,
                                        block=None if backlog else BLOCK_MS)
            batches = [(stream, entries) for stream, entries in batches if entries]
            if backlog and not batches:
                backlog = False
            if active and time.monotonic() - last_claim > CLAIM_EVERY:
                # Entries left pending by a consumer that died or was removed.
                last_claim = time.monotonic()
                claimed = client.xautoclaim(settings.stream, settings.group, settings.consumer,
                                            min_idle_time=CLAIM_MIN_IDLE_MS, count=BATCH)[1]
                if claimed:
                    batches.append((settings.stream, claimed))
            if batches:
                process(runtime, batches)
        except Exception as exc:  # retry what we hold once the database or Redis is back
            backlog = True
            if is_nogroup(exc):
                # Redis lost the stream or the group between ensure_group and the read (a
                # restart): recreate it at once on the next loop.
                runtime.log(f"group {settings.group} vanished, recreating it: {exc}")
                runtime.stopping.wait(0.05)
                continue
            # A worker BLOCKed in XREADGROUP when Redis died gets a ConnectionError here (or
            # a timeout); redis-py reconnects on the next command.
            FAILURES.labels(settings.slot).inc()
            runtime.log(f"ERROR batch failed, will retry: {exc!r}")
            runtime.stopping.wait(0.5 if isinstance(exc, redis.ConnectionError) else 1.0)
    server.shutdown()
    runtime.pool.close()
    runtime.log("stopped")
