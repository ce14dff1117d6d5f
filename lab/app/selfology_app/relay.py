"""outbox-relay: publishes pending outbox rows to the Redis stream, at least once.

A batch is locked (SKIP LOCKED, so relays in both slots can run), written to the stream,
and only then marked published in the same transaction, with the stream entry id XADD
returned for each row. A crash between the two leaves the rows pending and they are
published again: the outbox id travels in every entry so that consumers can drop the
duplicate.

PostgreSQL's outbox is the source of truth, not Redis: a Redis restart without
persistence, or a SIGKILL within appendfsync's second, can lose entries the outbox
already calls published. The loss check (LossChecker) finds published rows that no worker
has processed (no row in selfology.processed_events) and whose stream entry is gone, and
sets them back to pending so that they are published again. An entry still in the stream
is never republished: a slow or stopped worker causes no duplicate entries.
"""
import json
import time

from prometheus_client import Counter, Gauge

from .runtime import Runtime, serve

RELAYED = Counter("selfology_outbox_relayed_total", "Outbox rows published to the stream", ["slot"])
PUBLISHED = Counter("selfology_events_published_total", "Outbox rows this relay published to the event stream")
# What the whole outbox holds, not this relay's share: every relay (both slots, every replica)
# exports the same figure, so rules take max() of it.
PENDING = Gauge("selfology_outbox_pending", "Outbox rows waiting to be published (status pending)")
OLDEST_PENDING_AGE = Gauge("selfology_outbox_oldest_pending_age_seconds",
                           "Age of the oldest pending outbox row in seconds; 0 when none is pending")
ERRORS = Counter("selfology_outbox_relay_errors_total", "Relay batches that failed", ["slot"])
REPUBLISHED = Counter("selfology_outbox_republished_total",
                      "Published outbox rows whose stream entry Redis lost, set back to pending", ["slot"])

BATCH = 200
IDLE_WAIT = 0.1

# The outbox gauges' query: both figures from the partial index event_outbox_pending_idx on
# (created_at, id) WHERE status = 'pending', which holds only the pending rows.
PENDING_SUMMARY = """
    SELECT count(*), COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0)
    FROM selfology.event_outbox
    WHERE status = 'pending'
"""

SELECT_PENDING = """
    SELECT id, event_type, payload, created_at
    FROM selfology.event_outbox
    WHERE status = 'pending'
    ORDER BY created_at, id
    LIMIT %s
    FOR UPDATE SKIP LOCKED
"""
# clock_timestamp(), not now(): published_at is when the row was written to the stream
# (just before the commit), so a loss check that skips rows younger than a bound cannot
# miss a row whose transaction started long before it committed.
MARK_PUBLISHED = """
    UPDATE selfology.event_outbox AS o
    SET status = 'published', published_at = clock_timestamp(), stream_entry_id = u.entry_id
    FROM unnest(%s::bigint[], %s::text[]) AS u(id, entry_id)
    WHERE o.id = u.id
"""

# The loss check. One relay checks at a time (both slots' relays may run): the others skip
# that round, so they never fight over the same rows.
LOSS_CHECK_LOCK = 0x5E1F_0E57
LOSS_PAGE = 500
LOSS_MAX_ROWS = 5000  # per round; a full round is followed by another at once
CHECK_WINDOW = """
    SELECT clock_timestamp() - make_interval(secs => %s), clock_timestamp() - make_interval(secs => %s)
"""
# Published rows in [after, cutoff) that no worker processed, in publication order. The
# range uses the partial index on published_at; smoke pings are left out (see
# LossChecker). The watermark keeps the range to what was published since the last
# fully checked point.
SCAN_UNPROCESSED = """
    SELECT o.id, o.event_type, o.payload, o.stream_entry_id, o.published_at
    FROM selfology.event_outbox AS o
    WHERE o.status = 'published'
      AND o.published_at >= %(after_at)s AND o.published_at < %(cutoff)s
      AND (o.published_at, o.id) > (%(after_at)s, %(after_id)s)
      AND o.event_type <> 'smoke.ping'
      AND NOT EXISTS (SELECT 1 FROM selfology.processed_events AS p WHERE p.event_id = o.id)
    ORDER BY o.published_at, o.id
    LIMIT %(limit)s
"""
SET_PENDING = """
    UPDATE selfology.event_outbox AS o
    SET status = 'pending', published_at = NULL, stream_entry_id = NULL
    WHERE o.id = ANY(%s) AND o.status = 'published'
      AND NOT EXISTS (SELECT 1 FROM selfology.processed_events AS p WHERE p.event_id = o.id)
"""


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
            entry_ids = pipe.execute()
            conn.execute(MARK_PUBLISHED, ([row[0] for row in rows], [str(e) for e in entry_ids]))
    RELAYED.labels(settings.slot).inc(len(rows))
    PUBLISHED.inc(len(rows))
    return len(rows)


def refresh_outbox_gauges(runtime):
    """Sets the pending gauges from the outbox; on a failure they keep their last figures and the
    relay logs it. A stopped relay exports nothing: the gauges stop with the relays."""
    with runtime.db() as conn:
        pending, age = conn.execute(PENDING_SUMMARY).fetchone()
    PENDING.set(pending)
    OLDEST_PENDING_AGE.set(max(0.0, float(age)))
    return pending, float(age)


def entry_present(answer, event_id):
    """Whether XRANGE stream id id answered with the entry this outbox row was written as."""
    return bool(answer) and str(answer[0][1].get("outbox_id")) == str(event_id)


def classify(rows, answers):
    """Splits scanned rows (id, event_type, payload, stream_entry_id, published_at) by what
    the stream answered for each: returns (ids of rows whose entry is lost, published_at of
    the earliest row still waiting in the stream or None, ids without a recorded entry).
    answers has one XRANGE answer per row with an entry id, in order."""
    lost, held, unknown = [], None, []
    answers = iter(answers)
    for event_id, _type, _payload, entry_id, published_at in rows:
        if not entry_id:
            unknown.append(event_id)  # published before entry ids were recorded: cannot tell
        elif entry_present(next(answers), event_id):
            if held is None:
                held = published_at
        else:
            lost.append(event_id)
    return lost, held, unknown


def end_of_pass(cutoff, held):
    """The new fully checked point once a pass reached its cutoff: every unprocessed row
    published before it was found lost (and set back to pending) or had no recorded entry.
    A row still in the stream holds the watermark, so that it is checked again until a
    worker processes it."""
    return cutoff if held is None else min(cutoff, held)


class LossChecker:
    """Finds published rows whose stream entry Redis lost and sets them back to pending.

    A pass scans the unprocessed published rows from the watermark to a cutoff
    (now - republish_after), in rounds of at most LOSS_MAX_ROWS rows (a round ends its
    transaction; the next one resumes where it stopped), then moves the watermark to the
    cutoff, or to the earliest row it found still waiting in the stream. On a start the
    watermark is now - republish_horizon.

    Smoke pings (smoke.ping, on a slot's smoke stream) are left out on purpose: a ping is a
    probe that smoke_test waits a few seconds for, so a republished ping would arrive after
    the test already failed (and the operator reruns it, with a new ping); and a ping to a
    slot that was since removed would never be consumed, holding the watermark forever."""

    def __init__(self, settings):
        self.settings = settings
        REPUBLISHED.labels(settings.slot)  # exported as 0 from the start, so increase() works
        self.watermark = None   # start of the next pass (published_at)
        self.resume = None      # (published_at, id) where an unfinished pass goes on
        self.pass_held = None   # earliest row of this pass still waiting in the stream
        self.unknown = 0

    def check(self, runtime):
        """One round; returns (rows set back to pending, whether the pass goes on)."""
        s = self.settings
        lost_total = unknown = scanned = 0
        complete = False
        with runtime.db() as conn:
            with conn.transaction():
                if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOSS_CHECK_LOCK,)).fetchone()[0]:
                    return 0, False  # the other slot's relay is checking
                cutoff, floor = conn.execute(CHECK_WINDOW, (s.republish_after, s.republish_horizon)).fetchone()
                if self.resume is not None:
                    after = self.resume
                else:
                    after = (floor if self.watermark is None or self.watermark < floor else self.watermark, 0)
                while scanned < LOSS_MAX_ROWS:
                    rows = conn.execute(SCAN_UNPROCESSED, dict(
                        after_at=after[0], after_id=after[1], cutoff=cutoff, limit=LOSS_PAGE)).fetchall()
                    pipe = runtime.redis.pipeline(transaction=False)
                    for _id, event_type, payload, entry_id, _at in rows:
                        if entry_id:
                            pipe.xrange(stream_for(s, event_type, payload), entry_id, entry_id)
                    answers = pipe.execute() if len(pipe) else []
                    lost, held, no_entry = classify(rows, answers)
                    if lost:
                        conn.execute(SET_PENDING, (lost,))
                    lost_total += len(lost)
                    unknown += len(no_entry)
                    if held is not None and (self.pass_held is None or held < self.pass_held):
                        self.pass_held = held
                    scanned += len(rows)
                    if rows:
                        after = (rows[-1][4], rows[-1][0])
                    if len(rows) < LOSS_PAGE:
                        complete = True
                        break
        # Only once the round committed: a failed round is done again from the same point.
        if complete:
            self.watermark, self.resume, self.pass_held = end_of_pass(cutoff, self.pass_held), None, None
        else:
            self.resume = after
        if lost_total:
            REPUBLISHED.labels(s.slot).inc(lost_total)
            runtime.log(f"republishing {lost_total} published rows whose stream entries Redis lost")
        if unknown and unknown != self.unknown:
            runtime.log(f"{unknown} unprocessed published rows have no recorded stream entry id: not checked")
        self.unknown = unknown
        return lost_total, not complete


def run(settings):
    runtime = Runtime(settings)
    server = serve(runtime)
    checker = LossChecker(settings)
    next_check = next_gauges = time.monotonic()
    while not runtime.stopping.is_set():
        if time.monotonic() >= next_gauges:
            next_gauges = time.monotonic() + settings.outbox_gauge_every
            try:
                refresh_outbox_gauges(runtime)
            except Exception as exc:  # the relay's own work goes on; the figures are refreshed later
                runtime.log(f"ERROR outbox gauges not refreshed, will retry: {exc!r}")
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + settings.republish_every
            try:
                if checker.check(runtime)[1]:
                    next_check = time.monotonic()  # the pass goes on after this batch
            except Exception as exc:  # never conclude "lost" from a failure: check again later
                ERRORS.labels(settings.slot).inc()
                runtime.log(f"ERROR loss check failed, will retry: {exc!r}")
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
