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
import os
import sys
import time
import traceback

import psycopg
import redis
from prometheus_client import Counter, Gauge, Histogram

from . import ai
from .runtime import Runtime, serve

PROCESSED = Counter("selfology_events_processed_total", "Events whose effect was applied", ["slot", "event_type"])
DUPLICATES = Counter("selfology_events_duplicate_total", "Redelivered events skipped by the ledger", ["slot"])
FAILURES = Counter("selfology_events_failed_batches_total", "Batches that failed and will be retried", ["slot"])
ANALYSIS = Histogram(
    "instant_analysis_duration_seconds", "Time to analyse one answer (the AI call and the profile's update)",
    ["slot"], buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
# The AI router (ai.Router): the billed calls and their cost by model, the answers analysed
# locally because the provider failed or the breaker was open, and the breaker's state.
AI_COST = Counter("ai_cost_usd_total", "AI spend in USD at list prices, by model", ["model"])
AI_REQUESTS = Counter("ai_requests_total", "AI calls billed, by model", ["model"])
AI_FALLBACKS = Counter("ai_fallbacks_total", "Answers analysed locally, not billed: the AI call failed "
                       "(reason=error) or the breaker was open (reason=breaker_open)", ["model", "reason"])
BREAKER = Gauge("circuit_breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half-open", ["dependency"])

BATCH = 100
BLOCK_MS = 500
CLAIM_EVERY = 5.0
CLAIM_MIN_IDLE_MS = 15000
MODEL_LOG_EVERY = 30.0  # seconds between the "Model selected" summaries in the log

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


class ModelLog:
    """The runbook greps the worker's log for "Model selected": one summary line of the models
    chosen (and the fallbacks) every MODEL_LOG_EVERY seconds, not one line per answer."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.since = clock()
        self.counts = {}

    def note(self, analysis):
        key = analysis.model if analysis.billed else f"{analysis.model} (fallback: {analysis.reason})"
        self.counts[key] = self.counts.get(key, 0) + 1

    def line(self, force=False):
        """The summary line when one is due (and counts were noted), else None."""
        if not self.counts or (not force and self.clock() - self.since < MODEL_LOG_EVERY):
            return None
        seconds = self.clock() - self.since
        text = ", ".join(f"{model} x{n}" for model, n in sorted(self.counts.items()))
        self.counts, self.since = {}, self.clock()
        return f"Model selected in the last {seconds:.0f}s: {text}"


def make_router(settings, log):
    def on_change(old, new):
        BREAKER.labels("ai").set(new)
        log(f"circuit breaker for ai: {ai.STATE_NAMES[old]} -> {ai.STATE_NAMES[new]}"
            + (f" ({router.last_error!r})" if new == ai.OPEN and router.last_error else ""))

    breaker = ai.Breaker(settings.ai_breaker_failures, settings.ai_breaker_cooldown, on_change=on_change)
    router = ai.Router(settings.ai_url, settings.ai_timeout, breaker)
    BREAKER.labels("ai").set(ai.CLOSED)
    for model in ai.MODELS:  # every model's series exists from the start, so increase() works
        AI_COST.labels(model)
        AI_REQUESTS.labels(model)
    return router


def apply_effect(conn, slot, event_id, event_type, payload, router, model_log=None):
    if event_type != "answer.submitted":
        return
    started = time.monotonic()
    analysis = router.analyse(event_id, payload["trait"], payload["value"])
    if analysis.billed:
        AI_REQUESTS.labels(analysis.model).inc()
        AI_COST.labels(analysis.model).inc(analysis.cost)
    else:
        AI_FALLBACKS.labels(analysis.model, analysis.reason).inc()
    if model_log is not None:
        model_log.note(analysis)
    conn.execute(TRAIT, (event_id, payload["user_id"], payload["trait"], payload["value"]))
    conn.execute(PROFILE, (payload["user_id"], payload["trait"], payload["value"]))
    ANALYSIS.labels(slot).observe(time.monotonic() - started)


def process(runtime, batches, router, model_log=None):
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
                    apply_effect(conn, s.slot, event_id, event_type, json.loads(fields.get("payload") or "{}"),
                                 router, model_log)
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


def crash_when_active(settings):
    """The crash-active fault: a version that passed its gates on the inactive slot dies with a
    traceback once its slot takes traffic, and again after every restart."""
    try:
        raise RuntimeError(f"injected fault: {settings.service} {settings.version} crashes in the active slot")
    except RuntimeError:
        traceback.print_exc()
    sys.stderr.flush()
    os._exit(1)  # pylint: disable=protected-access


def run(settings):
    runtime = Runtime(settings)
    server = serve(runtime)
    client, smoke = runtime.redis, settings.smoke_stream()
    active_slot = ActiveSlot(runtime)
    router, model_log = make_router(settings, runtime.log), ModelLog()
    runtime.log(f"AI router: {'provider at ' + settings.ai_url if settings.ai_url else 'local analysis'}")
    backlog = True  # after a start or a failure, finish what this consumer already holds
    last_claim = 0.0
    while not runtime.stopping.is_set():
        try:
            ensure_group(client, settings.stream, settings.group)
            ensure_group(client, smoke, settings.group)
            active = active_slot.is_active()
            if active and settings.fault == "crash-active":
                crash_when_active(settings)
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
                process(runtime, batches, router, model_log)
            router.breaker.refresh()
            line = model_log.line()
            if line:
                runtime.log(line)
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
    line = model_log.line(force=True)
    if line:
        runtime.log(line)
    server.shutdown()
    runtime.pool.close()
    runtime.log("stopped")
