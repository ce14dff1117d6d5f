"""Incident response: service logs classified, secrets masked, the runbook's report rendered and written."""
import datetime
import errno
import json
import os
import re
import stat
import traceback

import psycopg
import pytest
import redis
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.selfology.ops.plugins.module_utils import incidents
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.modules import incident_report, log_classify_info

NOW = datetime.datetime(2025, 1, 1, 9, 30, 14, tzinfo=datetime.timezone.utc)
RUNBOOK = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "runbook.md")


def traceback_lines(exc, cause=None):
    """The lines Python prints for exc raised (from cause) inside two frames: a real traceback."""
    def inner():
        if cause is not None:
            try:
                raise cause
            except type(cause) as first:
                raise exc from first
        raise exc

    def outer():
        inner()

    try:
        outer()
    except type(exc) as caught:
        return "".join(traceback.format_exception(type(caught), caught, caught.__traceback__)).splitlines()
    raise AssertionError("not raised")


PG_REFUSED = ('connection failed: connection to server at "172.18.0.3", port 5432 failed: Connection refused\n'
              '\tIs the server running on that host and accepting TCP/IP connections?')


def worker(message, at="2025-01-01T09:30:01"):
    """A line as the lab's services log it (runtime.log)."""
    return "%s analysis-worker-blue %s" % (at, message)


# ---------------------------------------------------------------------------------------------------
# classify_logs

def test_a_psycopg_traceback_is_one_crash_and_a_database_error():
    lines = [worker("version 1.2.0 listening on :8000")] + traceback_lines(psycopg.OperationalError(PG_REFUSED))
    assert lines[1] == "Traceback (most recent call last):" and lines[-2].startswith("psycopg.OperationalError: ")
    found = incidents.classify_logs(lines)
    assert found["counts"] == {"crash": 1, "out_of_memory": 0, "database": 1, "redis": 0, "ai_provider": 0,
                               "other_error": 0}
    assert found["tracebacks"] == 1 and found["dominant"] == "database"
    crash = found["classes"]["crash"]
    assert crash["first"] == crash["last"]
    assert crash["first"].startswith("Traceback (most recent call last) ... psycopg.OperationalError: connection failed")
    assert found["classes"]["database"]["first"].startswith("psycopg.OperationalError: connection failed")
    assert found["traceback"][0] == "Traceback (most recent call last):"
    assert any(line.lstrip().startswith("File ") for line in found["traceback"])
    assert found["total_lines"] == len(lines) and found["matched"] == 2


def test_logged_connection_errors_count_as_their_dependency_not_as_other_errors():
    lines = [
        worker("ERROR batch failed, will retry: %r" % psycopg.OperationalError(PG_REFUSED)),
        # repr() of redis-py 4 (Debian's python3-redis in the lab's images), then of redis-py 7+
        worker("ERROR batch failed, will retry: ConnectionError('Error 111 connecting to redis:6379. Connection refused.')"),
        worker("onboarding counts lost until Redis answers: %r" % redis.exceptions.TimeoutError("Timeout reading")),
        worker("ERROR batch failed, will retry: %r" % redis.exceptions.ConnectionError("Connection closed by server.")),
        "could not connect to server: Connection refused",
        worker("ERROR relay batch failed: %r" % psycopg.OperationalError(
            "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally")),
        worker("ERROR dropping malformed entry 1700000000000-0 on selfology:events"),
    ]
    found = incidents.classify_logs(lines)
    assert found["counts"]["database"] == 3
    assert found["counts"]["redis"] == 3
    assert found["counts"]["other_error"] == 1
    assert found["dominant"] == "database"
    assert "6379" in found["classes"]["redis"]["first"]
    assert found["classes"]["other_error"]["first"].endswith("on selfology:events")


def test_a_redis_traceback_from_redis_py():
    lines = traceback_lines(redis.exceptions.ConnectionError("Error 111 connecting to redis:6379. Connection refused."),
                            cause=ConnectionRefusedError(111, "Connection refused"))
    assert any(line.startswith("The above exception was the direct cause") for line in lines)
    found = incidents.classify_logs(lines)
    assert found["tracebacks"] == 1, "a chained traceback continues the first"
    assert found["counts"]["crash"] == 1
    assert found["counts"]["redis"] == 1
    assert found["classes"]["crash"]["last"].endswith(
        "redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.")
    assert found["traceback"][-1].startswith("redis.exceptions.ConnectionError")


def test_out_of_memory():
    lines = traceback_lines(MemoryError()) + [
        "Killed",
        "analysis-worker-blue exited with code 137",
        "Memory cgroup out of memory: Killed process 4242 (python3)",
    ]
    found = incidents.classify_logs(lines)
    assert found["counts"]["out_of_memory"] == 4
    assert found["dominant"] == "out_of_memory"
    assert found["classes"]["out_of_memory"]["first"] == "MemoryError"


def test_redis_refusing_writes_at_maxmemory_is_redis_not_the_process_out_of_memory():
    oom = redis.exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'.")
    found = incidents.classify_logs([worker("ERROR batch failed: %s" % oom), worker("ERROR batch failed: %r" % oom)]
                                    + traceback_lines(oom))
    assert found["counts"]["redis"] == 3 and found["counts"]["out_of_memory"] == 0


def test_ai_provider_errors_and_the_circuit_breaker():
    lines = [
        worker("AI router: provider at http://ai-stub:8090"),
        worker("circuit breaker for ai: closed -> open (<HTTPError 503: 'Service Unavailable'>)"),
        worker("circuit breaker for ai: open -> half-open"),
        worker("circuit breaker for ai: half-open -> closed"),
        worker("circuit breaker open, analysing locally"),
        worker("call to http://ai-stub:8090/v1/chat/completions timed out after 2.0s"),
        worker("Model selected in the last 60s: claude x2, gpt-4o x15, gpt-4o-mini x3"),
    ]
    found = incidents.classify_logs(lines)
    assert found["counts"]["ai_provider"] == 3
    assert found["matched"] == 3
    assert "closed -> open" in found["classes"]["ai_provider"]["first"]
    assert "timed out" in found["classes"]["ai_provider"]["last"]


def test_failures_naming_the_ai_url_host_are_ai_provider_errors():
    line = "POST https://inference.example.test/v1/respond: <urlopen error [Errno 110] Connection timed out>"
    assert incidents.classify_logs([line])["dominant"] == "other_error"
    found = incidents.classify_logs([line], ai_url="https://key:secret@inference.example.test/v1")
    assert found["dominant"] == "ai_provider"


def test_crash_and_exit_messages():
    lines = [
        "analysis-worker 1.3.0-crash: fault injected, crashing on start",
        "selfology-analysis-worker-blue exited with code 3",
        "Fatal Python error: Segmentation fault",
        "analysis-worker-blue exited with code 0",
    ]
    found = incidents.classify_logs(lines)
    assert found["counts"]["crash"] == 3 and found["tracebacks"] == 0
    assert found["dominant"] == "crash"


def test_healthy_lines_match_nothing():
    lines = [
        worker("version 1.2.0 listening on :8000"),
        worker("restored selfology:active_slot = blue from selfology.active_slot"),
        worker("Model selected in the last 60s: gpt-4o x15"),
        worker("stopping on signal 15"),
        "error_rate=0.01 errors=0",
        "",
    ]
    found = incidents.classify_logs(lines)
    assert found["matched"] == 0 and found["dominant"] is None and found["tracebacks"] == 0
    assert found["summary"] == "no error lines in 6 lines"
    assert all(entry["first"] is None and entry["last"] is None for entry in found["classes"].values())


def test_docker_timestamps_do_not_hide_the_frames():
    stamp = "2025-01-01T09:30:01.123456789Z "
    lines = [stamp + line for line in traceback_lines(KeyError("session"))]
    found = incidents.classify_logs(lines)
    assert found["tracebacks"] == 1 and found["counts"]["crash"] == 1
    assert found["matched"] == 1, "frames and the code in them are not classified"
    assert found["classes"]["crash"]["last"] == "Traceback (most recent call last) ... KeyError: 'session'"


def test_first_and_last_and_the_dominant_class():
    lines = [worker("ERROR one")] + [worker("ERROR %d: %r" % (n, psycopg.OperationalError(PG_REFUSED)))
                                     for n in range(3)] + [worker("ERROR two")]
    found = incidents.classify_logs(lines)
    assert found["classes"]["database"]["first"].startswith(worker("ERROR 0"))
    assert found["classes"]["database"]["last"].startswith(worker("ERROR 2"))
    assert found["classes"]["other_error"]["first"].endswith("ERROR one")
    assert found["classes"]["other_error"]["last"].endswith("ERROR two")
    assert found["dominant"] == "database"
    assert found["summary"].startswith("database connection errors 3 (dominant), other errors 2")


def test_a_tie_goes_to_the_specific_cause():
    found = incidents.classify_logs(["ERROR a", "ERROR b", "Error 111 connecting to redis:6379. Connection refused.",
                                     "redis.exceptions.ConnectionError: Connection closed by server."])
    assert found["counts"]["redis"] == found["counts"]["other_error"] == 2
    assert found["dominant"] == "redis"


def test_lines_are_cut_to_300_characters_after_masking():
    line = worker("ERROR " + "x" * 270 + " redis://:supersecretpassword@redis:6379/0 is down " + "y" * 400)
    found = incidents.classify_logs([line])
    sample = found["classes"]["redis"]["first"]
    assert len(sample) == incidents.LINE_LIMIT and sample.endswith("\u2026")
    assert "supersecret" not in json.dumps(found)


def test_text_bytes_and_lines_are_the_same():
    lines = traceback_lines(psycopg.OperationalError(PG_REFUSED)) + [worker("ERROR x")]
    assert incidents.classify_logs("\n".join(lines)) == incidents.classify_logs(lines)
    assert incidents.classify_logs("\n".join(lines).encode()) == incidents.classify_logs(lines)
    with pytest.raises(SelfologyError, match="list of strings or a text"):
        incidents.classify_logs(42)


def test_the_module_classifies_lines_or_text():
    lines = [worker("ERROR batch failed: %r" % psycopg.OperationalError(PG_REFUSED))]
    by_lines = log_classify_info.run(dict(lines=lines, text=None, ai_url=None), check_mode=True)
    by_text = log_classify_info.run(dict(lines=None, text="\n".join(lines), ai_url=None), check_mode=False)
    assert by_lines == by_text and by_lines["changed"] is False and by_lines["dominant"] == "database"
    spec = log_classify_info.TASK
    both = ArgumentSpecValidator(spec.argument_spec, **spec.constraints).validate(dict(lines=["a"], text="a"))
    neither = ArgumentSpecValidator(spec.argument_spec, **spec.constraints).validate({})
    assert both.error_messages and neither.error_messages


# ---------------------------------------------------------------------------------------------------
# secrets

@pytest.mark.parametrize("text, secret", [
    ("postgresql://selfology:s3cr3t-pw@postgres:5432/selfology", "s3cr3t-pw"),
    ("redis://:r3dis-pass@redis:6379/0", "r3dis-pass"),
    ("https://ghp_tokenvalue123@example.test/repo.git", "ghp_tokenvalue123"),
    ("amqp://user:p%40ss@rabbit/", "p%40ss"),
    ("dsn='host=postgres user=selfology password=hunter22 dbname=selfology'", "hunter22"),
    ('{"api_key": "sk-live-abcdef"}', "sk-live-abcdef"),
    ("{'password': 'p4ss'}", "p4ss"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9"),
    ("POST https://api.telegram.org/bot123456789:AAH-secret_Token/sendMessage", "AAH-secret_Token"),
    ("SELFOLOGY_BOT_TOKEN=123456:abcdef", "123456:abcdef"),
])
def test_secrets_are_masked(text, secret):
    masked = incidents.mask_secrets(text)
    assert secret not in masked and incidents.MASK in masked
    assert incidents.mask_secrets(masked) == masked
    assert secret not in json.dumps(incidents.classify_logs(["ERROR " + text]))


def test_masking_keeps_what_is_not_a_secret():
    text = "postgresql://postgres:5432/selfology prompt_tokens=400 completion_tokens=200 token_count=3"
    assert incidents.mask_secrets(text) == text
    assert incidents.mask_secrets("redis://u:p@redis:6379/0") == "redis://********@redis:6379/0"


# ---------------------------------------------------------------------------------------------------
# the incident and its report

def service_down(**changes):
    incident = dict(
        kind="service-down", severity="P0", impact="Users unable to get analysis", service="analysis-worker",
        trigger="ServiceDown alert (fingerprint 3f2a9c1d)", started="2025-01-01T09:30:00Z",
        summary="The active analysis worker stopped answering /health.",
        steps=[
            dict(name="Acknowledge", started="2025-01-01T09:30:00Z", duration_s=0.4, result="ok",
                 details="silenced 30m by selfops; team told"),
            dict(name="Check service logs", started="2025-01-01T09:30:01Z", duration_s=0.7, result="ok",
                 details={"dominant": "database", "lines": 100}),
            dict(name="Fix A - restart service", started="2025-01-01T09:30:02Z", duration_s=30.2, result="failed",
                 details="not healthy after 30 s | exited with code 1"),
            dict(name="Fix B - check dependencies", started="2025-01-01T09:30:33Z", duration_s=1.5, result="ok",
                 details={"postgres": "SELECT 1 ok", "redis": "PONG", "qdrant": "not configured"}),
            dict(name="Fix C - rollback", started="2025-01-01T09:30:35.5Z", duration_s=8.25, result="ok",
                 details={"from": "green", "to": "blue", "url": "postgresql://selfology:pw123456@pg/selfology"}),
        ],
        resolved_by="Fix C - rollback",
        evidence=[
            dict(title="Last 100 log lines, classified", content=incidents.classify_logs(
                traceback_lines(psycopg.OperationalError(PG_REFUSED)))),
            dict(title="Log excerpt", content=["2025-01-01T09:29:59 ERROR x | y", "redis://:hunter2pass@redis:6379"]),
            dict(title="Up", query='up{job="selfology"}',
                 content=[{"metric": {"instance": "worker-blue"}, "value": 0}]),
            dict(title="Figures", content={"error_rate_pct": 12.5, "p95_s": 0.8}),
        ],
    )
    incident.update(changes)
    return incident


def runbook_headings():
    """The headings of the runbook's incident report template, read from the runbook when it is here."""
    if not os.path.exists(RUNBOOK):
        return ["Root Cause", "Resolution", "Prevention"]
    with open(RUNBOOK) as handle:
        text = handle.read()
    template = text[text.index("# Incident: Analysis Worker Down"):]
    template = template[:template.index("EOF")]
    return re.findall(r"^## (.+)$", template, re.MULTILINE)


def test_the_report_has_every_template_heading_in_order():
    report = incidents.render_report(service_down())
    assert report.startswith("# Incident: Service down: analysis-worker\n\n**Time:** 2025-01-01T09:30:00.000Z\n"
                             "**Severity:** P0\n**Impact:** Users unable to get analysis\n")
    headings = re.findall(r"^## (.+)$", report, re.MULTILINE)
    assert headings == ["Timeline", "Evidence", "Root Cause", "Resolution", "Prevention"]
    template = runbook_headings()
    assert template == ["Root Cause", "Resolution", "Prevention"]
    assert [h for h in headings if h in template] == template
    for field in ("**Time:**", "**Severity:**", "**Impact:**"):
        assert report.count(field) == 1
    root_cause = report.split("## Root Cause\n", 1)[1].split("## Resolution", 1)[0]
    prevention = report.split("## Prevention\n", 1)[1]
    assert root_cause.strip() == "[Fill in after investigation]"
    assert prevention.strip() == "[How to prevent in future]"


def test_the_timeline_has_every_step_with_its_result_and_duration():
    report = incidents.render_report(service_down())
    timeline = report.split("## Timeline\n", 1)[1].split("## Evidence", 1)[0]
    rows = [line for line in timeline.splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows) == 5
    assert rows[0].startswith("| 1 | Acknowledge | 2025-01-01T09:30:00.000Z | 0.4 s | ok |")
    assert rows[2].startswith("| 3 | Fix A - restart service | 2025-01-01T09:30:02.000Z | 30.2 s | failed |")
    assert "not healthy after 30 s \\| exited with code 1" in rows[2], "a pipe in a cell is escaped"
    assert rows[4].startswith("| 5 | Fix C - rollback | 2025-01-01T09:30:35.500Z | 8.2 s | ok (resolved it) |")
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 7 for row in rows), "seven unescaped pipes: six cells"


def test_the_resolution_names_the_fix_and_the_time_to_repair():
    data = incidents.normalize_incident(service_down())
    assert data["status"] == "resolved" and data["time_to_resolve_s"] == 43.75
    assert data["ended"] == "2025-01-01T09:30:43.750Z"
    report = incidents.render_report(data)
    resolution = report.split("## Resolution\n", 1)[1].split("## Prevention", 1)[0]
    assert "Fix C - rollback resolved it, 43.8 s after the incident started." in resolution
    assert "Tried first without success: Fix A - restart service." in resolution
    assert "**Status:** resolved by Fix C - rollback after 43.8 s" in report


def test_an_unresolved_incident_says_a_person_must_take_over():
    steps = service_down()["steps"][:3]
    report = incidents.render_report(service_down(steps=steps, resolved_by=None))
    assert "**Status:** unresolved" in report
    assert "No step resolved it (failed: Fix A - restart service): a person must take over." in report


def test_the_evidence_is_in_the_report_and_secrets_are_not():
    report = incidents.render_report(service_down())
    evidence = report.split("## Evidence\n", 1)[1].split("## Root Cause", 1)[0]
    assert "### Last 100 log lines, classified" in evidence
    assert "| database connection errors (dominant) | 1 | psycopg.OperationalError: connection failed" in evidence
    assert "```text\n2025-01-01T09:29:59 ERROR x | y\nredis://********@redis:6379\n```" in evidence
    assert "Query: `up{job=\"selfology\"}`" in evidence
    assert '| {"instance": "worker-blue"} | 0 |' in evidence
    assert "| error_rate_pct | 12.5 |" in evidence
    assert "hunter2pass" not in report and "pw123456" not in report
    assert "hunter2pass" not in json.dumps(incidents.normalize_incident(service_down()))


def test_evidence_as_a_dict_and_long_logs():
    lines = ["line %d" % n for n in range(250)]
    report = incidents.render_report(service_down(evidence={"Relay logs": lines, "Note": "restarted twice"}))
    assert "### Relay logs" in report and "[50 earlier lines left out]" in report
    assert "line 49\n" not in report and "line 50\n" in report and "line 249\n" in report
    assert "### Note\n\nrestarted twice\n" in report


def test_a_fence_is_longer_than_any_backticks_in_the_log():
    report = incidents.render_report(service_down(evidence={"Logs": ["a ``` b"]}))
    assert "````text\na ``` b\n````" in report


@pytest.mark.parametrize("changes, message", [
    (dict(severity="P5"), "severity"),
    (dict(kind="Service Down"), "kind"),
    (dict(kind="../etc"), "kind"),
    (dict(impact=""), "impact"),
    (dict(resolved_by="Fix D"), "names no step"),
    (dict(resolved_by="Fix A - restart service"), "not ok"),
    (dict(steps=[dict(name="x", result="done")]), "result"),
    (dict(steps=[dict(name="x", result="ok", duration_s=-1)]), "negative"),
    (dict(steps=[dict(name="x", result="ok", started="yesterday")]), "ISO 8601"),
    (dict(steps=[dict(name="x", result="ok", output="y")]), "unknown fields"),
    (dict(colour="red"), "unknown fields"),
    (dict(evidence=[dict(title="x")]), "title and content"),
])
def test_an_incident_that_is_not_right_is_refused(changes, message):
    with pytest.raises(SelfologyError, match=message):
        incidents.normalize_incident(service_down(**changes))


def test_the_incident_builder_times_its_steps():
    ticks = iter([1735723800.0, 1735723801.0, 1735723805.0])
    incident = incidents.Incident("backlog", "P1", "Users not receiving responses", clock=lambda: next(ticks),
                                  service="outbox-relay")
    with incident.step("Check OutboxRelay") as step:
        step["details"] = {"pending": 1500}
    with pytest.raises(RuntimeError):
        with incident.step("Restart OutboxRelay"):
            raise RuntimeError("docker said no")
    incident.add_step("Verify drain", "ok", started=1735723806, duration_s=20, details={"rate_per_s": 70.0})
    incident.add_evidence("Pending", {"before": 1500, "after": 80})
    incident.resolve("Verify drain")
    data = incident.as_dict()
    assert data["started"] == "2025-01-01T09:30:00.000Z"
    assert [(s["name"], s["result"]) for s in data["steps"]] == [
        ("Check OutboxRelay", "ok"), ("Restart OutboxRelay", "failed"), ("Verify drain", "ok")]
    assert data["steps"][0]["started"] == "2025-01-01T09:30:01.000Z"
    assert data["steps"][1]["details"] == "RuntimeError: docker said no"
    assert data["time_to_resolve_s"] == 26.0
    assert data["evidence"] == [{"title": "Pending", "kind": "figures", "content": {"before": 1500, "after": 80}}]


def test_normalizing_twice_changes_nothing():
    once = incidents.normalize_incident(service_down())
    assert incidents.normalize_incident(once) == once
    assert incidents.render_report(once) == incidents.render_report(service_down())


# ---------------------------------------------------------------------------------------------------
# write_report

@pytest.fixture
def no_umask():
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_write_report_writes_both_files_with_their_modes(tmp_path, no_umask):
    directory = str(tmp_path / "state" / "incidents")
    md_path, json_path = incidents.write_report(directory, service_down(), now=NOW)
    assert md_path == os.path.join(directory, "20250101_093014_service_down.md")
    assert json_path == os.path.join(directory, "20250101_093014_service_down.json")
    assert mode(directory) == 0o750 and mode(str(tmp_path / "state")) == 0o750
    assert mode(md_path) == 0o640 and mode(json_path) == 0o640
    with open(md_path) as handle:
        assert handle.read() == incidents.render_report(service_down())
    with open(json_path) as handle:
        record = json.load(handle)
    assert record == dict(incidents.normalize_incident(service_down()), report="20250101_093014_service_down.md")
    assert sorted(os.listdir(directory)) == ["20250101_093014_service_down.json", "20250101_093014_service_down.md"]


def test_write_report_never_overwrites(tmp_path):
    directory = str(tmp_path)
    first = incidents.write_report(directory, service_down(), now=NOW)
    second = incidents.write_report(directory, service_down(impact="second"), now=NOW)
    (tmp_path / "20250101_093014_service_down-3.json").write_text("{}")  # an orphan takes its name too
    third = incidents.write_report(directory, service_down(impact="third"), now=NOW)
    assert [os.path.basename(p) for p in second] == ["20250101_093014_service_down-2.md",
                                                     "20250101_093014_service_down-2.json"]
    assert os.path.basename(third[0]) == "20250101_093014_service_down-4.md"
    with open(first[0]) as handle:
        assert "**Impact:** Users unable to get analysis" in handle.read()
    with open(second[0]) as handle:
        assert "**Impact:** second" in handle.read()
    assert not [name for name in os.listdir(directory) if name.endswith(".tmp")]


def test_a_name_taken_between_looking_and_writing_is_not_overwritten(tmp_path, monkeypatch):
    real_link = os.link
    calls = []

    def racing_link(src, dst):
        if not calls:  # another writer creates the name just before our link
            with open(dst, "w") as handle:
                handle.write("theirs")
        calls.append(dst)
        return real_link(src, dst)

    monkeypatch.setattr(incidents.os, "link", racing_link)
    md_path, json_path = incidents.write_report(str(tmp_path), service_down(), now=NOW)
    assert os.path.basename(md_path) == "20250101_093014_service_down-2.md"
    assert (tmp_path / "20250101_093014_service_down.md").read_text() == "theirs"
    assert os.path.exists(json_path)


def test_without_hard_links_the_name_is_claimed_exclusively(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(incidents.os, "link", no_link)
    first = incidents.write_report(str(tmp_path), service_down(), now=NOW)
    second = incidents.write_report(str(tmp_path), service_down(impact="second"), now=NOW)
    assert os.path.basename(second[0]) == "20250101_093014_service_down-2.md"
    assert "**Impact:** Users" in open(first[0]).read() and "**Impact:** second" in open(second[0]).read()
    assert not [name for name in os.listdir(str(tmp_path)) if name.endswith(".tmp")]


def test_a_failed_write_leaves_no_report_and_no_temporary_file(tmp_path, monkeypatch):
    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(incidents.os, "write", full_disk)
    with pytest.raises(SelfologyError, match="cannot write the incident report .*No space left on device"):
        incidents.write_report(str(tmp_path), service_down(), now=NOW)
    assert os.listdir(str(tmp_path)) == []


def test_each_file_is_synced_before_it_is_moved_into_place(tmp_path, monkeypatch):
    events = []

    def recording(name):
        real = getattr(os, name)

        def call(*args):
            events.append(name if name == "fsync" else "%s %s" % (name, os.path.basename(args[1])))
            return real(*args)
        monkeypatch.setattr(incidents.os, name, call)

    for name in ("fsync", "link", "replace"):
        recording(name)
    incidents.write_report(str(tmp_path), service_down(), now=NOW)
    assert events == ["fsync", "link 20250101_093014_service_down.md", "fsync",
                      "replace 20250101_093014_service_down.json", "fsync"]


# ---------------------------------------------------------------------------------------------------
# the module

def module_params(directory, incident):
    spec = incident_report.TASK
    validated = ArgumentSpecValidator(spec.argument_spec, **spec.constraints).validate(
        dict(directory=directory, incident=incident))
    assert not validated.error_messages
    return validated.validated_parameters


def test_check_mode_writes_nothing_and_returns_the_would_be_paths(tmp_path):
    directory = str(tmp_path / "incidents")
    result = incident_report.run(module_params(directory, service_down()), check_mode=True)
    assert result["changed"] is True and result["written"] is False
    assert re.fullmatch(re.escape(directory) + r"/\d{8}_\d{6}_service_down\.md", result["path"])
    assert result["json_path"] == result["path"][:-3] + ".json"
    assert result["markdown"] == incidents.render_report(service_down())
    assert result["incident"]["status"] == "resolved"
    assert not os.path.exists(directory)


def test_the_module_writes_the_report(tmp_path):
    directory = str(tmp_path / "incidents")
    result = incident_report.run(module_params(directory, service_down()), check_mode=False)
    assert result["changed"] is True and result["written"] is True
    with open(result["path"]) as handle:
        assert handle.read() == result["markdown"]
    with open(result["json_path"]) as handle:
        assert json.load(handle)["status"] == "resolved"
    again = incident_report.run(module_params(directory, service_down()), check_mode=True)
    assert again["path"] != result["path"]


def test_the_module_spec_refuses_a_wrong_result_or_severity():
    spec = incident_report.TASK
    wrong = service_down(severity="P9", steps=[dict(name="x", result="maybe")])
    validated = ArgumentSpecValidator(spec.argument_spec, **spec.constraints).validate(
        dict(directory="/tmp/x", incident=wrong))
    assert any("severity" in message for message in validated.error_messages)
    assert any("result" in message for message in validated.error_messages)
