"""selfops audit security against the lab (runbook - Monthly Checklist: Security audit).

The lab as it is comes out ok: each of its findings is accepted, with its reason, by
inventory/lab/group_vars/selfology/security.yml. Then three containers are planted, each labelled
org.selfology.test=security-audit and removed afterwards (and before, should an earlier run have left
them): one publishing a port on 0.0.0.0, one with DB_PASSWORD in its environment, and a Redis from the
lab's base image without a password, persistence or protected mode, published on 127.0.0.1 on a free
port that the audit is pointed at with -e selfology_redis_port. The audit finds each with its severity,
exits 2, never shows the password, and removes nothing; plain ansible-playbook fails on the same findings.
pg_hba_file_rules needs a superuser (the lab's n8n is one); as another role the module reads pg_hba.conf
with docker exec in n8n-postgres, tested with a role created for the test and dropped after it.
"""
import json
import os
import socket
import stat
import subprocess
import time

import docker
import pytest
import redis
from psycopg import sql

from conftest import selfops
from lab import PG, REDIS as LAB_REDIS, ROOT, run_module

pytestmark = pytest.mark.integration

LABEL = {"org.selfology.test": "security-audit"}
SECRET = "hunter2"
OPEN = "selfops-audit-test-open"
ENV = "selfops-audit-test-env"
REDIS = "selfops-audit-test-redis"
# A role without superuser rights, created and dropped by the test of the docker exec path.
PLAIN_ROLE = "selfops_audit_test"


def remove_planted(client):
    for leftover in client.containers.list(all=True, filters={"label": "org.selfology.test=security-audit"}):
        leftover.remove(force=True)


def free_loopback_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def containers_seen(client):
    """Every container's id and whether it runs."""
    return {c.id: c.status for c in client.containers.list(all=True)}


def wait_for_ping(port, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping():
                return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.fixture
def planted(lab):
    client = docker.from_env()
    remove_planted(client)
    base = client.containers.get("n8n-redis").attrs["Config"]["Image"]
    port = free_loopback_port()
    common = dict(image=base, labels=LABEL, init=True, detach=True)
    try:
        client.containers.run(name=OPEN, command=["sleep", "infinity"], ports={"8000/tcp": ("0.0.0.0",)}, **common)
        client.containers.run(name=ENV, command=["sleep", "infinity"], environment={"DB_PASSWORD": SECRET}, **common)
        client.containers.run(name=REDIS, command=["redis-server", "--protected-mode", "no", "--save", "",
                                                   "--appendonly", "no"],
                              ports={"6379/tcp": ("127.0.0.1", port)}, **common)
        wait_for_ping(port)
        yield {"redis_port": port, "client": client}
    finally:
        remove_planted(client)


def by_subject(report):
    return {(f["check"], f["subject"]): f for f in report["findings"]}


def test_the_lab_as_it_is_comes_out_ok_with_every_finding_accepted(lab):
    started = time.monotonic()
    proc = selfops("audit", "security", "--json", check=False)
    elapsed = time.monotonic() - started
    payload = json.loads(proc.stdout)
    report = payload["hosts"]["localhost"]
    open_findings = [f for f in report["findings"] if not f["accepted"]]
    assert proc.returncode == 0 and payload["status"] == "ok", json.dumps(open_findings, indent=1)
    assert report["counts"]["stale"] == 0 and report["counts"]["accepted"] == len(report["findings"])
    found = by_subject(report)
    # What the lab has on purpose, each accepted with its reason.
    for key in [("redis_auth", "n8n-redis"), ("redis_protected_mode", "n8n-redis"), ("postgres_trust", "local all all"),
                ("postgres_superuser", "n8n"), ("secrets", "n8n-postgres/env/POSTGRES_PASSWORD"),
                ("tls", "alertmanager_telegram_api")]:
        assert found[key]["accepted"] and found[key]["reason"], key
    assert any(check == "secrets" and subject.endswith("/env/DATABASE_URL") for check, subject in found)
    assert report["checked"]["hba_source"] == "pg_hba_file_rules" and report["checked"]["containers"] > 10
    path = report["report_path"]
    assert os.path.basename(path).startswith("security_") and path.endswith(".json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(open(path, encoding="utf-8").read())["findings"] == report["findings"]
    print(f"audit of the lab: {elapsed:.1f}s, {len(report['findings'])} findings, all accepted:")
    for item in report["findings"]:
        print(f"  {item['severity']:8} {item['check']:20} {item['subject']}: {item['reason']}")


def test_planted_findings_are_found_with_their_severity_without_showing_the_password(planted):
    client = planted["client"]
    before = containers_seen(client)
    override = f"selfology_redis_port={planted['redis_port']}"
    started = time.monotonic()
    proc = selfops("audit", "security", "--json", "-e", override, check=False)
    elapsed = time.monotonic() - started
    payload = json.loads(proc.stdout)
    report = payload["hosts"]["localhost"]
    found = by_subject(report)
    assert proc.returncode == 2 and payload["status"] == "critical", proc.stdout[-3000:] + proc.stderr
    expected = {("ports", f"{OPEN}/8000/tcp"): "critical", ("secrets", f"{ENV}/env/DB_PASSWORD"): "warning",
                ("redis_auth", REDIS): "critical", ("redis_protected_mode", REDIS): "warning",
                ("redis_persistence", REDIS): "warning"}
    for key, severity in expected.items():
        assert key in found, (key, sorted(found))
        assert (found[key]["severity"], found[key]["accepted"]) == (severity, False), found[key]
    # The lab's Redis was not audited this time: its acceptances matched nothing, and say so.
    assert ("acceptance", "redis_auth n8n-redis") in found and report["counts"]["stale"] == 2
    text = open(report["report_path"], encoding="utf-8").read()
    for where, output in (("stdout", proc.stdout), ("stderr", proc.stderr), ("report", text)):
        assert SECRET not in output, f"the password is in the {where}"
    # Read-only: every container that was there is still there, in the same state.
    assert containers_seen(client) == before
    assert all(client.containers.get(name).status == "running" for name in (OPEN, ENV, REDIS))

    # The playbook is the product: plain ansible-playbook fails on the same critical findings.
    play = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "inventory/lab",
                           "playbooks/audit_security.yml", "-e", override],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert play.returncode == 2, play.stdout[-3000:]
    assert "security audit critical:" in play.stdout and f"container {OPEN} publishes 8000/tcp" in play.stdout
    assert SECRET not in play.stdout + play.stderr
    assert containers_seen(client) == before
    print(f"audit with the planted containers: {elapsed:.1f}s, exit {proc.returncode}")


def test_as_a_role_that_is_not_a_superuser_pg_hba_is_read_in_the_container(pg):
    role = sql.Identifier(PLAIN_ROLE)
    pg.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
    pg.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'audit-test-only'").format(role))
    try:
        res = run_module("selfology.ops.security_audit_info", dict(
            PG, login_user=PLAIN_ROLE, login_password="audit-test-only", **LAB_REDIS))
    finally:
        pg.execute(sql.SQL("DROP ROLE {}").format(role))
    assert not res.get("failed"), res.get("msg")
    assert res["checked"]["hba_source"] == "docker exec n8n-postgres cat pg_hba.conf"
    trust = sorted(f["subject"] for f in res["findings"] if f["check"] == "postgres_trust")
    assert trust == ["local all all", "local replication all"]
    # The services still connect as n8n (their DATABASE_URL): that superuser is found through them.
    superusers = [f for f in res["findings"] if f["check"] == "postgres_superuser"]
    assert [f["subject"] for f in superusers] == ["n8n"] and "the configured login" not in superusers[0]["message"]
