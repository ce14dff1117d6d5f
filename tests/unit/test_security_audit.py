"""The security audit's checks (plugins/module_utils/security.py): docker inspect output, Redis and PostgreSQL
readings, file modes and URLs in, findings with a severity out; acceptances; and selfops audit security's
rendering and exit code, with the playbook run replaced."""
import json
import stat

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import security
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from selfops import audit as cli_audit
from selfops.cli import build_parser, main
from selfops.runner import Run, TaskResult

DAY = 86400


def container(name="web", running=True, ports=None, bindings=None, env=(), labels=None, privileged=False, mounts=(),
              network_mode="selfology-net", image="sha256:abc", image_name="selfology/services:1.0.0"):
    return {
        "Name": "/" + name, "Id": name * 3, "Image": image,
        "State": {"Running": running},
        "Config": {"Env": list(env), "Labels": labels or {}, "Image": image_name},
        "HostConfig": {"Privileged": privileged, "NetworkMode": network_mode, "PortBindings": bindings or {}},
        "NetworkSettings": {"Ports": ports or {}},
        "Mounts": list(mounts),
    }


def subjects(found, severity=None):
    return [f["subject"] for f in found if severity is None or f["severity"] == severity]


# ports ------------------------------------------------------------------------------------------

def test_loopback_ports_are_not_findings_and_every_interface_is_critical():
    found = security.port_findings([
        container("lab", ports={"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}], "9000/tcp": None}),
        container("six", ports={"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}),
        container("open", ports={"8000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"},
                                              {"HostIp": "::", "HostPort": "32768"}]}),
        container("lan", ports={"5432/tcp": [{"HostIp": "10.0.0.5", "HostPort": "5432"}]}),
    ])
    assert subjects(found, "critical") == ["open/8000/tcp", "lan/5432/tcp"]
    assert "0.0.0.0:32768, [::]:32768" in found[0]["message"]


def test_a_stopped_container_is_judged_by_what_it_would_publish():
    # HostIp '' in PortBindings: every interface once it starts.
    found = security.port_findings([container("stopped", running=False, bindings={"80/tcp": [{"HostIp": "", "HostPort": "80"}]})])
    assert subjects(found, "critical") == ["stopped/80/tcp"]


def test_the_host_network_is_a_warning():
    assert subjects(security.port_findings([container("h", network_mode="host")]), "warning") == ["h/host-network"]


# privileged and the Docker socket ---------------------------------------------------------------

def test_privileged_containers_are_critical():
    found = security.privileged_findings([container("a", privileged=True), container("b")])
    assert [(f["subject"], f["severity"]) for f in found] == [("a", "critical")]


@pytest.mark.parametrize("mount, expected", [
    ({"Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock"}, ["ee"]),
    ({"Source": "/run/docker.sock", "Destination": "/docker.sock"}, ["ee"]),
    ({"Source": "/srv/x/docker.sock", "Destination": "/x"}, ["ee"]),
    ({"Source": "/var/lib/docker/volumes/data/_data", "Destination": "/data"}, []),
])
def test_the_docker_socket_mounted_is_critical(mount, expected):
    found = security.docker_socket_findings([container("ee", mounts=[mount])])
    assert subjects(found, "critical") == expected


# secrets ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, value, secret", [
    ("DB_PASSWORD", "hunter2", True), ("POSTGRES_PASSWORD", "x", True), ("GITHUB_TOKEN", "t", True),
    ("OPENAI_API_KEY", "k", True), ("AWS_SECRET_ACCESS_KEY", "k", True), ("db_passwd", "x", True),
    ("POSTGRES_PASSWORD_FILE", "/run/secrets/pg", False), ("DB_PASSWORD", "", False),
    ("SELFOLOGY_ACTIVE_SLOT_KEY", "selfology:active_slot", False), ("PATH", "/usr/bin", False),
    ("DATABASE_URL", "postgresql://n8n:pw@n8n-postgres:5432/n8n", True),
    ("REDIS_URL", "redis://:pw@n8n-redis:6379/0", True),
    ("REDIS_URL", "redis://n8n-redis:6379/0", False), ("AI_URL", "http://user@host:8000/", False),
])
def test_a_secret_is_known_by_its_name_or_a_password_in_a_url(name, value, secret):
    assert bool(security.secret_kind(name, value)) is secret


def test_secret_findings_name_the_container_and_variable_never_the_value():
    found = security.secret_findings([container("app", env=["DB_PASSWORD=hunter2", "PLAIN=1",
                                                            "DATABASE_URL=postgresql://u:s3cr3t@db/x"],
                                                labels={"com.example.api_token": "tok-123", "org.selfology.slot": "blue"})])
    assert subjects(found, "warning") == ["app/env/DB_PASSWORD", "app/env/DATABASE_URL", "app/label/com.example.api_token"]
    text = json.dumps(found)
    assert "hunter2" not in text and "s3cr3t" not in text and "tok-123" not in text


# images -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("1970-01-02T00:00:00Z", DAY), ("1970-01-02T00:00:00.999999999Z", DAY + 0.999999999),
    ("1970-01-02T01:00:00+01:00", DAY), ("1970-01-01T23:00:00-01:00", DAY),
])
def test_docker_times_are_read_with_their_zone(text, seconds):
    assert security.parse_docker_time(text) == pytest.approx(seconds)


def test_images_older_than_the_limit_are_warnings():
    now = security.parse_docker_time("2026-12-01T00:00:00Z")
    images = [{"name": "old:1", "created": "2026-08-01T00:00:00Z", "containers": ["a", "b"]},
              {"name": "new:1", "created": "2026-11-30T00:00:00.5Z", "containers": ["c"]},
              {"name": "odd:1", "created": "", "containers": []},
              {"name": "gone", "error": "the image is gone", "containers": ["d"]}]
    found = security.image_age_findings(images, 90 * DAY, now)
    assert [(f["subject"], f["severity"]) for f in found] == [
        ("old:1", "warning"), ("odd:1", "info"), ("unreadable", "warning")]
    assert "122 days ago (limit 90 days), used by a, b" in found[0]["message"]


# Redis ------------------------------------------------------------------------------------------

def redis_reading(ping="ok", config=None, **extra):
    return dict({"address": "127.0.0.1:16379", "container": "n8n-redis", "ping": ping,
                 "config": config, "config_error": None}, **extra)


def test_redis_without_a_password_is_critical_and_named_by_its_container():
    found = security.redis_auth_findings(redis_reading())
    assert [(f["subject"], f["severity"]) for f in found] == [("n8n-redis", "critical")]
    assert security.redis_auth_findings(redis_reading(ping="noauth")) == []
    assert security.redis_auth_findings(redis_reading(ping="denied"))[0]["severity"] == "warning"
    unreachable = security.redis_auth_findings(redis_reading(ping="unreachable", error="Connection refused"))
    assert unreachable[0]["subject"] == "unreadable" and "Connection refused" in unreachable[0]["message"]


def test_redis_found_elsewhere_is_named_by_its_address():
    assert security.redis_auth_findings(redis_reading(container=None))[0]["subject"] == "127.0.0.1:16379"


@pytest.mark.parametrize("ping, mode, expected", [
    ("ok", "no", "warning"), ("ok", "yes", None), ("noauth", "no", "info"), ("noauth", "yes", None)])
def test_protected_mode_off_matters_without_a_password(ping, mode, expected):
    found = security.redis_protected_mode_findings(redis_reading(ping=ping, config={"protected-mode": mode}))
    assert [f["severity"] for f in found] == ([expected] if expected else [])


@pytest.mark.parametrize("appendonly, save, lost", [
    ("no", "", True), ("no", " ", True), ("yes", "", False), ("no", "3600 1 300 100", False)])
def test_redis_without_persistence_is_a_warning(appendonly, save, lost):
    found = security.redis_persistence_findings(redis_reading(config={"appendonly": appendonly, "save": save}))
    assert [f["severity"] for f in found] == (["warning"] if lost else [])


def test_a_redis_config_that_cannot_be_read_is_said_so():
    reading = redis_reading(ping="noauth", config_error="it needs a password and none is configured")
    for check in (security.redis_protected_mode_findings, security.redis_persistence_findings):
        assert [(f["severity"], "none is configured" in f["message"]) for f in check(reading)] == [("info", True)]


def test_the_redis_container_is_the_one_publishing_the_port():
    containers = [container("other", ports={"6379/tcp": [{"HostIp": "127.0.0.1", "HostPort": "6379"}]}),
                  container("n8n-redis", ports={"6379/tcp": [{"HostIp": "127.0.0.1", "HostPort": "16379"}]})]
    assert security.publisher(containers, "127.0.0.1", 16379) == "n8n-redis"
    assert security.publisher(containers, "localhost", "16379") == "n8n-redis"
    assert security.publisher(containers, "10.0.0.9", 16379) is None
    assert security.publisher(containers, "127.0.0.1", 16380) is None


# PostgreSQL -------------------------------------------------------------------------------------

# As pg_hba_file_rules gives the lab's rules (initdb --auth-local=trust --auth-host=scram-sha-256, plus one line).
LAB_RULES = [
    {"line_number": 89, "type": "local", "database": ["all"], "user_name": ["all"], "address": None, "netmask": None,
     "auth_method": "trust", "error": None},
    {"line_number": 91, "type": "host", "database": ["all"], "user_name": ["all"], "address": "127.0.0.1",
     "netmask": "255.255.255.255", "auth_method": "scram-sha-256", "error": None},
    {"line_number": 96, "type": "local", "database": ["replication"], "user_name": ["all"], "address": None,
     "netmask": None, "auth_method": "trust", "error": None},
    {"line_number": 99, "type": "host", "database": ["all"], "user_name": ["all"], "address": "0.0.0.0",
     "netmask": "0.0.0.0", "auth_method": "scram-sha-256", "error": None},
]

HBA_FILE = """\
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust   # loopback
host    all             all             ::1/128                 scram-sha-256
host    replication     all             10.0.0.0 255.0.0.0      trust
hostssl app,other       svc             0.0.0.0/0               trust
host    all             all             samehost                trust
include_dir conf.d
host    broken
"""


def test_trust_is_critical_beyond_loopback_and_a_warning_on_the_socket_or_loopback():
    rules = security.parse_pg_hba(HBA_FILE)
    found = security.postgres_trust_findings({"rules": rules, "hba_source": "docker exec"})
    assert [(f["subject"], f["severity"]) for f in found] == [
        ("local all all", "warning"), ("host all all 127.0.0.1/32", "warning"),
        ("host replication all 10.0.0.0/8", "critical"), ("hostssl app,other svc 0.0.0.0/0", "critical"),
        ("host all all samehost", "warning")]
    assert found[0]["figures"]["line"] == 2
    assert rules[-1]["error"] == "too few fields"


def test_the_view_and_the_file_give_the_same_subjects():
    found = security.postgres_trust_findings({"rules": LAB_RULES, "hba_source": "pg_hba_file_rules"})
    assert subjects(found, "warning") == ["local all all", "local replication all"]
    assert security.hba_address(LAB_RULES[3]) == "0.0.0.0/0"
    ipv6 = {"address": "::1", "netmask": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}
    assert security.hba_address(ipv6) == "::1/128" and security.is_loopback_network("::1/128")
    assert not security.is_loopback_network("0.0.0.0/0") and not security.is_loopback_network("all")


def test_pg_hba_that_cannot_be_read_is_a_warning():
    found = security.postgres_trust_findings({"hba_error": "permission denied"})
    assert [(f["subject"], f["severity"]) for f in found] == [("unreadable", "warning")]


def test_a_superuser_the_services_connect_as_is_a_warning():
    containers = [container("selfology-worker-blue", labels={"org.selfology.slot": "blue"},
                            env=["DATABASE_URL=postgresql://svc%40x:pw@db:5432/n8n", "OTHER=postgres://admin:pw@db/x"]),
                  container("unrelated", env=["DATABASE_URL=postgresql://other:pw@db/x"])]
    users = security.service_postgres_users(containers, "n8n")
    assert users == {"n8n": ["the configured login"], "svc@x": ["selfology-worker-blue"],
                     "admin": ["selfology-worker-blue"]}
    found = security.postgres_superuser_findings({"roles": {"n8n": True, "svc@x": False, "admin": True},
                                                  "users": users})
    assert [(f["subject"], f["severity"]) for f in found] == [("admin", "warning"), ("n8n", "warning")]
    assert "pw" not in json.dumps(found)
    assert security.postgres_superuser_findings({"error": "refused"})[0]["subject"] == "unreadable"


# file modes -------------------------------------------------------------------------------------

def path(name, mode, is_dir=False, secret=False, exists=True):
    kind = stat.S_IFDIR if is_dir else stat.S_IFREG
    return {"name": name, "path": "/srv/" + name, "secret": secret, "exists": exists, "mode": kind | mode,
            "is_dir": is_dir}


def test_file_modes():
    found = security.file_mode_findings([
        path("state_dir", 0o755, is_dir=True), path("backups", 0o750, is_dir=True, secret=True),
        path("alertmanager_config", 0o600, secret=True), path("lock_file", 0o666), path("group", 0o775, is_dir=True),
        path("leaky", 0o644, secret=True), path("listable", 0o701, is_dir=True, secret=True),
        path("absent", 0, exists=False), {"name": "denied", "path": "/x", "error": "Permission denied"},
    ])
    assert [(f["subject"], f["severity"]) for f in found] == [
        ("lock_file", "critical"), ("group", "warning"), ("leaky", "critical"), ("listable", "critical"),
        ("unreadable", "warning")]
    assert "mode 0666" in found[0]["message"]


# TLS --------------------------------------------------------------------------------------------

def test_plain_http_to_a_host_that_is_not_loopback_is_a_warning_shown_without_its_path():
    found = security.tls_findings({
        "prometheus": "http://127.0.0.1:9090", "lb": "http://localhost:8080", "six": "http://[::1]:80",
        "telegram": "https://api.telegram.org", "stub": "http://selfology-telegram-stub:8000",
        "bot": "http://user:pw@bots.example:8080/bot123:SECRET/send", "empty": "", "webhook": "ws://10.0.0.1/x",
    })
    assert subjects(found, "warning") == ["bot", "stub", "webhook"]
    assert found[0]["figures"]["url"] == "http://bots.example:8080"
    assert "SECRET" not in json.dumps(found) and "pw" not in json.dumps(found)


# acceptances and the verdict --------------------------------------------------------------------

CLEAN_REDIS = redis_reading(ping="noauth", config={"protected-mode": "yes", "appendonly": "yes", "save": ""})


def readings(containers=(), redis=None, postgres=None, paths=(), urls=None):
    return {"containers": list(containers), "images": [], "now": 0, "image_max_age": 90 * DAY,
            "redis": redis or CLEAN_REDIS, "postgres": postgres or {"rules": [], "roles": {}, "users": {}},
            "paths": list(paths), "urls": urls or {}}


def test_nothing_found_is_ok():
    result = security.audit(readings(), [])
    assert (result["status"], result["exit_code"], result["findings"]) == ("ok", 0, [])


def test_the_worst_open_finding_decides_and_accepted_ones_do_not_count():
    lab = readings(containers=[container("n8n-postgres", env=["POSTGRES_PASSWORD=x"])], redis=redis_reading(
        config={"protected-mode": "no", "appendonly": "yes", "save": ""}))
    result = security.audit(lab, [])
    assert (result["status"], result["exit_code"]) == ("critical", 2)
    accepted = [{"check": "redis_auth", "subject": "n8n-*", "reason": "lab"},
                {"check": "redis_protected_mode", "subject": "n8n-redis", "reason": "lab"}]
    result = security.audit(lab, accepted)
    assert (result["status"], result["counts"]) == ("warning", {"critical": 0, "warning": 1, "info": 0,
                                                                "accepted": 2, "stale": 0})
    accepted.append({"check": "secrets", "subject": "n8n-postgres/env/POSTGRES_PASSWORD", "reason": "lab only"})
    result = security.audit(lab, accepted)
    assert result["status"] == "ok" and all(f["accepted"] for f in result["findings"])
    assert {f["subject"]: f["reason"] for f in result["findings"]}["n8n-postgres/env/POSTGRES_PASSWORD"] == "lab only"


def test_an_acceptance_matches_its_own_check_only():
    result = security.audit(readings(containers=[container("web", privileged=True)]),
                            [{"check": "docker_socket", "subject": "web", "reason": "r"}])
    assert result["status"] == "critical"
    stale = [f for f in result["findings"] if f["check"] == security.STALE]
    assert [(f["subject"], f["severity"]) for f in stale] == [("docker_socket web", "warning")]


def test_a_stale_acceptance_is_a_warning():
    result = security.audit(readings(), [{"check": "tls", "subject": "gone", "reason": "old"}])
    assert (result["status"], result["counts"]["stale"]) == ("warning", 1)
    assert "matches nothing" in result["findings"][0]["message"]


def test_info_findings_leave_the_status_ok():
    result = security.audit(readings(redis=redis_reading(ping="noauth", config_error="renamed")), [])
    assert result["status"] == "ok" and {f["severity"] for f in result["findings"]} == {"info"}


@pytest.mark.parametrize("entry", [{"check": "nope", "subject": "x", "reason": "r"},
                                   {"check": "tls", "subject": "", "reason": "r"},
                                   {"check": "tls", "subject": "x", "reason": " "}])
def test_an_acceptance_needs_a_known_check_a_subject_and_a_reason(entry):
    with pytest.raises(SelfologyError):
        security.audit(readings(), [entry])


def test_docker_unreachable_makes_its_checks_warnings():
    result = security.audit(dict(readings(), containers={"error": "Docker engine is unreachable"}), [])
    unreadable = [f["check"] for f in result["findings"] if f["subject"] == "unreadable"]
    assert unreadable == ["ports", "privileged", "docker_socket", "secrets", "image_age"]
    assert result["status"] == "warning"


def test_findings_come_worst_first():
    result = security.audit(readings(containers=[container("a", env=["X_TOKEN=t"], privileged=True)],
                                     urls={"u": "http://example.org"}), [])
    assert [f["severity"] for f in result["findings"]] == ["critical", "warning", "warning"]


def test_the_module_offers_exactly_the_checks():
    # One list: the module's choices for an acceptance's check are the checks the audit runs.
    from ansible_collections.selfology.ops.plugins.modules import security_audit_info
    spec = security_audit_info.argument_spec()
    assert spec["accepted"]["options"]["check"]["choices"] == list(security.CHECKS)
    assert spec["login_password"]["no_log"] and spec["redis_password"]["no_log"]


def test_every_lab_acceptance_names_a_check_with_a_reason():
    import yaml
    from lab import INVENTORY
    lab = yaml.safe_load((INVENTORY / "group_vars" / "selfology" / "security.yml").read_text())
    security.validate_acceptances(lab["security_accepted_findings"])


# selfops audit security -------------------------------------------------------------------------

REPORT = {
    "host": "localhost", "started": "2026-12-01T09:00:00+00:00", "status": "critical", "exit_code": 2,
    "report_path": "/tmp/reports/security_20261201-090000.json",
    "counts": {"critical": 1, "warning": 1, "info": 0, "accepted": 1, "stale": 0},
    "findings": [
        {"check": "ports", "subject": "x/80/tcp", "severity": "critical", "message": "container x publishes 80/tcp",
         "accepted": False, "reason": None},
        {"check": "secrets", "subject": "y/env/DB_PASSWORD", "severity": "warning",
         "message": "environment variable DB_PASSWORD of container y", "accepted": False, "reason": None},
        {"check": "redis_auth", "subject": "n8n-redis", "severity": "critical", "message": "no password",
         "accepted": True, "reason": "the lab's Redis"},
    ],
}


def fake_run(monkeypatch, status, report=None):
    code = {"ok": 0, "warning": 1, "critical": 2}[status]
    seen = {}

    def run_playbook(name, **kwargs):
        seen.update(kwargs, name=name)
        facts = {"security_audit_report": dict(report or REPORT, status=status, exit_code=code)}
        return Run(rc=2 if status == "critical" else 0, status="failed" if status == "critical" else "successful",
                   results=[TaskResult("localhost", "ansible.builtin.set_fact", "Keep", "ok", {"ansible_facts": facts})],
                   stats={"security_audit": {"localhost": {"status": status, "exit_code": code}}})
    monkeypatch.setattr(cli_audit, "run_playbook", run_playbook, raising=False)
    monkeypatch.setattr("selfops.checks.run_playbook", run_playbook)
    return seen


@pytest.mark.parametrize("status, code", [("ok", 0), ("warning", 1), ("critical", 2)])
def test_audit_security_exits_with_the_status_the_play_reported(monkeypatch, capsys, status, code):
    seen = fake_run(monkeypatch, status)
    assert main(["audit", "security", "--json"]) == code
    payload = json.loads(capsys.readouterr().out)
    assert payload["status"] == status and seen["name"] == "audit_security"
    assert payload["hosts"]["localhost"]["findings"][0]["check"] == "ports"


def test_audit_security_groups_findings_by_severity_and_lists_the_accepted_with_their_reason(monkeypatch, capsys):
    fake_run(monkeypatch, "critical")
    assert main(["audit", "security", "-q"]) == 2
    out = capsys.readouterr().out
    assert out.index("CRITICAL (1):") < out.index("WARNING (1):") < out.index("ACCEPTED (1")
    assert "redis_auth n8n-redis (critical): the lab's Redis" in out
    assert out.strip().endswith("CRITICAL: 1 critical, 1 warning")


def test_an_audit_that_did_not_run_is_critical(monkeypatch, capsys):
    def run_playbook(name, **kwargs):
        return Run(rc=2, status="failed", results=[], stats={})
    monkeypatch.setattr("selfops.checks.run_playbook", run_playbook)
    assert main(["audit", "security", "-q"]) == 2
    assert "the security audit did not run" in capsys.readouterr().err


def test_audit_needs_a_kind():
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["audit"])
    assert exc.value.code == 2


# readers ----------------------------------------------------------------------------------------

def test_read_paths_gives_modes_and_absence(tmp_path):
    secret = tmp_path / "alertmanager.yml"
    secret.write_text("token")
    secret.chmod(0o644)
    found = security.read_paths([{"name": "am", "path": str(secret), "secret": True},
                                 {"name": "dir", "path": str(tmp_path), "secret": False},
                                 {"name": "lock", "path": str(tmp_path / "lock.json"), "secret": False}])
    expected = [("am", True, False), ("dir", True, True), ("lock", False, None)]
    assert [(f["name"], f["exists"], f.get("is_dir")) for f in found] == expected
    assert subjects(security.file_mode_findings(found), "critical") == ["am"]


class FakeExec:
    def __init__(self, exit_code, output):
        self.exit_code, self.output = exit_code, output


class FakeDocker:
    """containers.get(name).exec_run(cmd) answering with pg_hba.conf."""

    def __init__(self, exit_code=0, output=HBA_FILE.encode()):
        self.ran = []
        self.containers = self
        self.answer = FakeExec(exit_code, output)

    def get(self, name):
        self.ran.append(name)
        return self

    def exec_run(self, command, **kwargs):
        self.ran.append(command)
        return self.answer


class InsufficientPrivilege(Exception):
    pass


class FakePostgres:
    """The collection's postgres module_utils, connected as a role that cannot read pg_hba_file_rules."""

    class psycopg:  # noqa: N801 (stands for the module)
        class errors:  # noqa: N801
            InsufficientPrivilege = InsufficientPrivilege

    def __init__(self, roles):
        self.roles, self.closed = roles, False

    def connect(self, params, application_name):
        return self

    def execute(self, query, params=None):
        if "pg_hba_file_rules" in query:
            raise InsufficientPrivilege("permission denied for view pg_hba_file_rules")
        self.rows = sorted(self.roles.items())
        return self

    def fetchall(self):
        return self.rows

    def close(self):
        self.closed = True


def test_without_a_superuser_pg_hba_is_read_in_the_container():
    docker, postgres = FakeDocker(), FakePostgres({"svc": False})
    reading = security.read_postgres(postgres, {"login_user": "svc"}, {"svc": ["the configured login"]}, docker,
                                     "n8n-postgres")
    assert reading["hba_source"] == "docker exec n8n-postgres cat pg_hba.conf" and postgres.closed
    assert docker.ran == ["n8n-postgres", security.HBA_FILE_COMMAND]
    assert reading["roles"] == {"svc": False} and len(reading["rules"]) == 7  # include_dir is left out
    failing = security.read_postgres(FakePostgres({}), {"login_user": "svc"}, {}, FakeDocker(exit_code=1), "pg")
    assert "exited 1" in failing["hba_error"]
    assert security.postgres_trust_findings(failing)[0]["subject"] == "unreadable"
