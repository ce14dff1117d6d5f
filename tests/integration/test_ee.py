"""The job templates' playbooks in the execution environment, run the way AWX runs a job.

The image is built by scripts/build-ee.sh (a no-op when selfology/ee:latest was built from the
current sources). Each job is prepared as AWX prepares one (awx/main/tasks/jobs.py, RunJob):

- a private data dir with `project/` (the checkout's files, as the project sync leaves them),
  `inventory/hosts` (the inventory source inventory/lab/hosts.yml as AWX imports it,
  `ansible-inventory --list --export`, written back as the executable script AWX writes),
  `env/extravars` (the job template's survey defaults as AWX applies them - a falsy default is
  not sent - the answers a user gives, and the awx_* / tower_* variables) and `env/cmdline`
  (`-u root`, as build_args always adds);
- the environment AWX gives ansible-playbook (its ANSIBLE_* settings, JOB_ID, the collections,
  roles and callback paths built from the project's ansible.cfg);
- then the run itself as on a container group: `ansible-runner transmit` here, `ansible-runner
  worker` inside the EE container (stdin to stdout, as receptor streams it), `ansible-runner
  process` here, which writes the job's artifacts (status, rc, events).

What the lab needs beyond that is what awx/vars/controller.yml's settings give an execution node for
the lab: the Docker socket and the lab's state dir mounted (AWX_ISOLATION_SHOW_PATHS), and
SELFOLOGY_STATE_DIR naming that dir (AWX_TASK_ENV), which the lab inventory reads. --network host:
the lab listens on 127.0.0.1.

SELFOPS_EE_AWX_TASK_ENV (JSON) adds environment variables as AWX's AWX_TASK_ENV setting does.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import ansible_runner
import docker
import pytest
import redis
import yaml

from conftest import selfops
from lab import REDIS, ROOT, STATE_FILE, drain_backlog, relays_stopped_with_backlog, wait_for

pytestmark = pytest.mark.integration

STATE_DIR = ROOT / ".lab" / "state"
AUDIT_LOG = STATE_DIR / "audit.log"
TEMPLATES_FILE = ROOT / "awx" / "vars" / "job_templates.yml"
VERSIONS = ("1.0.0", "2.0.0")
AWX_USER = "awx-alice"
BACKLOG_TYPE = "selfops.test.ee"
SCRATCH_DB = 9
# Where the lab's state dir is inside the EE: awx_lab_state_dir, given to jobs as SELFOLOGY_STATE_DIR.
# (The file holds !unsafe values, which yaml.safe_load refuses: read the one line.)
EE_STATE_DIR = re.search(r"^awx_lab_state_dir: (\S+)$", (ROOT / "awx" / "vars" / "controller.yml").read_text(),
                         re.M).group(1)
AWX_TASK_ENV = dict(json.loads(os.environ.get("SELFOPS_EE_AWX_TASK_ENV") or "{}"), SELFOLOGY_STATE_DIR=EE_STATE_DIR)
_job_ids = iter(range(int(time.time()) % 100_000 * 10, 10**9))


# The job templates (awx/vars/job_templates.yml) ----------------------------------------------

def job_templates():
    """The job templates by playbook."""
    data = yaml.safe_load(TEMPLATES_FILE.read_text())
    return {t["playbook"]: t for t in data["controller_templates"]}


def survey_defaults(template):
    """The extra vars a launch with no answers gets: AWX applies a survey default only when it is
    truthy (SurveyJobTemplateMixin._update_unified_job_kwargs)."""
    return {q["variable"]: q["default"] for q in template.get("survey", []) if q.get("default")}


def awx_variables(template, job_id):
    """The variables AWX adds to every job's extra vars, under both prefixes."""
    values = dict(
        job_id=job_id, job_launch_type="manual", job_template_id=42, job_template_name=template["name"],
        user_id=7, user_name=AWX_USER, user_email="alice@example.invalid", user_first_name="Alice",
        user_last_name="Operator", inventory_id=3, inventory_name="Selfology lab", execution_node="localhost",
        project_revision=_revision(), project_scm_branch="main", host="https://awx.example.invalid",
    )
    return {f"{prefix}_{key}": value for prefix in ("awx", "tower") for key, value in values.items()}


def _revision():
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()


# Building the EE and preparing a job -----------------------------------------------------------

@pytest.fixture(scope="module")
def ee_image():
    """selfology/ee, built from the current sources (scripts/build-ee.sh does nothing when it is)."""
    started = time.monotonic()
    proc = subprocess.run([str(ROOT / "scripts" / "build-ee.sh")], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image = proc.stdout.strip().splitlines()[-1]
    size = docker.from_env().images.get(image).attrs["Size"]
    print(f"\nEE {image}: {size / 1e6:.0f} MB, build-ee.sh {time.monotonic() - started:.1f}s")
    return image


@pytest.fixture(scope="module")
def project():
    """The project as a sync leaves it: the checkout's files (tracked and new, not ignored)."""
    with tempfile.TemporaryDirectory(prefix="selfops-ee-project-") as tmp:
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode().split("\0")
        path = Path(tmp) / "project"
        for name in filter(None, listed):
            source = ROOT / name
            if not os.path.lexists(source):  # deleted in the working tree
                continue
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                shutil.copy2(source, target)
        yield path


@pytest.fixture(scope="module")
def awx_inventory(project):
    """The lab inventory as AWX stores it: the SCM inventory source imported with
    `ansible-inventory --list --export` (variables kept as written, not templated)."""
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", "inventory/lab/hosts.yml",
                           "--list", "--export"], cwd=project, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    for hostvars in data.get("_meta", {}).get("hostvars", {}).values():
        hostvars.update(remote_tower_enabled="true", remote_tower_id=1)
    return data


def awx_env(job_id):
    """The environment AWX's RunJob.build_env gives ansible-playbook, for this project."""
    env = {
        "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_PARAMIKO_RECORD_HOST_KEYS": "False",
        "ANSIBLE_FORCE_COLOR": "True", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "AWX_PRIVATE_DATA_DIR": "/runner", "JOB_ID": str(job_id), "INVENTORY_ID": "3",
        "PROJECT_REVISION": _revision(), "ANSIBLE_RETRY_FILES_ENABLED": "False", "MAX_EVENT_RES": "700000",
        "AWX_HOST": "https://awx.example.invalid", "ANSIBLE_SSH_CONTROL_PATH_DIR": "/runner/cp",
        # The project's ansible.cfg paths (roles_path = roles, collections_path = .collections) go
        # in front of the defaults, behind what a project sync installs.
        "ANSIBLE_ROLES_PATH": "/runner/requirements_roles:roles:~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles",
        "ANSIBLE_COLLECTIONS_PATH": "/runner/requirements_collections:.collections:~/.ansible/collections:/usr/share/ansible/collections",
        "ANSIBLE_CALLBACK_PLUGINS": "/runner/plugins_path:~/.ansible/plugins:/plugins/callback:/usr/share/ansible/plugins/callback",
    }
    env.update(AWX_TASK_ENV)
    return env


class Job:
    """One finished job: its status and rc from the artifacts, its events and stdout."""

    def __init__(self, playbook, job_id, status, rc, events, stdout, extravars):
        self.playbook, self.job_id, self.status, self.rc = playbook, job_id, status, rc
        self.events, self.stdout, self.extravars = events, stdout, extravars

    def __repr__(self):
        return f"<job {self.job_id} {self.playbook}: {self.status} (rc {self.rc})>\n{self.stdout[-6000:]}"

    def failed_tasks(self):
        return [e["event_data"].get("task") for e in self.events if e.get("event") == "runner_on_failed"]

    @property
    def artifacts(self):
        """What the job published with set_stats: AWX hands it to the next workflow nodes as extra vars."""
        stats = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return stats[-1]["event_data"].get("artifact_data", {}) if stats else {}


def run_job(image, project, inventory, playbook, answers=None):
    """Launches the job template of playbook with answers on top of its survey defaults."""
    template = job_templates()[playbook]
    job_id = next(_job_ids)
    extravars = dict(survey_defaults(template), **(answers or {}), **awx_variables(template, job_id))
    with tempfile.TemporaryDirectory(prefix=f"awx_{job_id}_") as private:
        private = Path(private)
        shutil.copytree(project, private / "project", symlinks=True)
        (private / "inventory").mkdir()
        script = private / "inventory" / "hosts"
        script.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(inventory))
        script.chmod(0o700)
        (private / "env").mkdir()
        (private / "env" / "extravars").write_text(yaml.safe_dump(extravars))
        (private / "env" / "cmdline").write_text("-u root")
        (private / "cp").mkdir()
        kwargs = dict(ident=str(job_id), playbook=playbook, envvars=awx_env(job_id), suppress_env_files=True)

        transmitted = private.parent / f"{private.name}.transmit"
        returned = private.parent / f"{private.name}.worker"
        try:
            with transmitted.open("wb") as out:
                ansible_runner.run(private_data_dir=str(private), streamer="transmit", _output=out, **kwargs)
            with transmitted.open("rb") as stdin, returned.open("wb") as stdout:
                worker = subprocess.run(
                    ["docker", "run", "--rm", "-i", "--user=root", "--network=host",
                     "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", f"{STATE_DIR}:{EE_STATE_DIR}",
                     image, "ansible-runner", "worker", "--private-data-dir=/runner"],
                    stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=900, check=False)
            # The worker exits non-zero when the job failed; the stream still carries its events and
            # artifacts, as it does for receptor.
            assert returned.stat().st_size, f"ansible-runner worker exited {worker.returncode}: {worker.stderr.decode()}"
            events = []
            with returned.open("rb") as stream:
                ansible_runner.run(private_data_dir=str(private), streamer="process", _input=stream, quiet=True,
                                   event_handler=lambda e: events.append(e) or True, **kwargs)
            artifacts = private / "artifacts" / str(job_id)
            status = (artifacts / "status").read_text().strip()
            rc = int((artifacts / "rc").read_text().strip())
            stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else ""
        finally:
            transmitted.unlink(missing_ok=True)
            returned.unlink(missing_ok=True)
    job = Job(playbook, job_id, status, rc, events, stdout, extravars)
    print(f"\n{playbook} (job {job_id}, {answers or 'survey defaults'}): {status}")
    return job


def audit_entries():
    if not AUDIT_LOG.exists():
        return []
    return [json.loads(line) for line in AUDIT_LOG.read_text().splitlines() if line.startswith("{")]


def state():
    return json.loads(STATE_FILE.read_text())


# Fixtures on the lab -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images(lab):
    for version in VERSIONS:
        selfops("lab", "image", version, "-q")


@pytest.fixture
def settled(images):
    """One healthy active slot and no inactive one, whatever an earlier test left."""
    selfops("cleanup", "-q", "--force", "--reason", "test setup", "-e", "bluegreen_retention=0")
    return state()["active"]


@pytest.fixture
def ee(ee_image, project, awx_inventory):
    return lambda playbook, answers=None: run_job(ee_image, project, awx_inventory, playbook, answers)


# Tests -------------------------------------------------------------------------------------------

def test_the_definition_pins_what_pyproject_pins():
    pins = {}
    for requirement in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, version = requirement.split("==", 1) if "==" in requirement else (requirement, "")
        pins[name] = version
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())["dependencies"]
    listed = [definition["ansible_core"]["package_pip"], definition["ansible_runner"]["package_pip"],
              *definition["python"]]
    for requirement in listed:
        name, version = requirement.split("==", 1) if "==" in requirement else (requirement, "")
        assert pins.get(name) == version, f"{requirement}: pyproject.toml pins {name}=={pins.get(name)}"
    for needed in ("ansible-core", "ansible-runner", "psycopg[binary]", "redis", "docker"):
        assert any(r.startswith(needed + "==") for r in listed), f"{needed} is not in the EE"


def test_the_ee_holds_the_collections_and_the_clients(ee_image):
    script = ("import psycopg, redis, docker, ansible_runner, ansible.release as r; print(r.__version__); "
              "import subprocess; print(subprocess.run(['ansible-galaxy', 'collection', 'list', '--format', 'json'],"
              " capture_output=True, text=True).stdout)")
    proc = subprocess.run(["docker", "run", "--rm", ee_image, "python3", "-c", script], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    core, listing = proc.stdout.split("\n", 1)
    assert core == "2.19.14"
    installed = {name for path in json.loads(listing).values() for name in path}
    assert {"selfology.ops", "community.docker", "community.postgresql", "community.general",
            "ansible.posix"} <= installed, installed
    proc = subprocess.run(["docker", "run", "--rm", ee_image, "docker", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and "Docker version" in proc.stdout, "the docker CLI (backup_create) is missing"


def test_the_inventory_awx_writes_parses_with_the_projects_ansible_cfg(ee, settled):
    job = ee("playbooks/status.yml")
    assert "Failed to parse inventory" not in job.stdout and "Unable to parse" not in job.stdout, job


def test_status_check_daily_smoke_weekly_maintenance_and_history_succeed_on_a_healthy_lab(ee, settled):
    outcomes = {}
    for playbook in ("playbooks/status.yml", "playbooks/check_daily.yml", "playbooks/smoke.yml",
                     "playbooks/maintenance_weekly.yml", "playbooks/history.yml"):
        job = ee(playbook)
        outcomes[playbook] = job.status
        assert job.status == "successful", job
    print(f"\njobs in the EE on a healthy lab: {outcomes}")


def test_deploy_switch_rollback_and_cleanup_succeed_and_the_audit_log_names_the_awx_user(ee, settled):
    active = state()["active"]
    current = state()["versions"][active]
    version = VERSIONS[1 - VERSIONS.index(current)] if current in VERSIONS else VERSIONS[1]
    steps = [
        ("playbooks/deploy.yml", {"bluegreen_version": version}, "deploy"),
        ("playbooks/switch.yml", None, "switch"),
        ("playbooks/rollback.yml", None, "rollback"),
        # Right after the rollback the inactive slot is inside its retention window: the cleanup
        # template's survey asks for force and a reason.
        ("playbooks/cleanup.yml", {"bluegreen_force": "true", "bluegreen_reason": "EE test"}, "cleanup"),
    ]
    problems = []
    for playbook, answers, action in steps:
        before = len(audit_entries())
        job = ee(playbook, answers)
        assert job.status == "successful", job
        if action == "deploy":
            # The workflow's next node: smoke, with the deploy's artifacts as its extra vars.
            target = "green" if active == "blue" else "blue"
            assert job.artifacts == {"smoke_slot": target, "smoke_expected_version": version}, job.artifacts
            smoke = ee("playbooks/smoke.yml", job.artifacts)
            assert smoke.status == "successful", smoke
            tested = [e["event_data"]["res"] for e in smoke.events if e.get("event") == "runner_on_ok"
                      and e["event_data"].get("task_action") == "selfology.ops.smoke_test"]
            assert tested and tested[0]["slot"] == target, tested
        new = audit_entries()[before:]
        assert [e["action"] for e in new] == [action], new
        entry = new[0]
        if AWX_USER not in entry.get("who", ""):
            problems.append(f"{action}: the audit line names {entry.get('who')!r}, not the AWX user {AWX_USER}")
        if str(job.job_id) not in json.dumps(entry):
            problems.append(f"{action}: the audit line does not name AWX job {job.job_id}")
    assert state()["active"] == active, "the rollback brought traffic back to the slot it started on"
    assert not problems, "\n".join(problems)


def _up(container_state):
    return container_state.get("Running") and container_state.get("Health", {}).get("Status", "healthy") == "healthy"


def test_status_fails_in_the_ee_when_the_active_slots_worker_is_stopped(ee, settled):
    client = docker.from_env()
    worker = client.containers.get(f"selfology-analysis-worker-{settled}")
    worker.stop(timeout=5)
    try:
        job = ee("playbooks/status.yml")
    finally:
        worker.start()
        wait_for(lambda: _up(client.containers.get(worker.name).attrs["State"]), timeout=60,
                 message=f"{worker.name} running (and healthy) again")
    assert job.status == "failed", job
    assert worker.name in job.stdout, job


def test_check_daily_fails_in_the_ee_naming_the_outbox_with_the_relays_stopped(ee, settled, pg):
    with relays_stopped_with_backlog(pg, 1500, BACKLOG_TYPE):
        job = ee("playbooks/check_daily.yml")
    try:
        assert job.status == "failed", job
        assert "outbox - critical" in job.stdout, job
        assert job.artifacts.get("checks_daily", {}).get("localhost", {}).get("status") == "critical", job.artifacts
    finally:
        drain_backlog(pg, BACKLOG_TYPE)


def test_scale_disk_maintenance_and_flushdb_run_in_the_ee(ee, settled):
    up = ee("playbooks/scale.yml", {"bluegreen_service": "question-selection", "bluegreen_replicas": 2})
    assert up.status == "successful", up
    assert state()["replicas"]["question-selection"] == 2
    down = ee("playbooks/scale.yml", {"bluegreen_service": "question-selection", "bluegreen_replicas": 1})
    assert down.status == "successful", down

    disk = ee("playbooks/maintenance_disk.yml")
    assert disk.status == "successful", disk

    scratch = redis.Redis(host=REDIS["redis_host"], port=REDIS["redis_port"], db=SCRATCH_DB)
    scratch.set("selfops:ee-test", "1")
    target = f"{REDIS['redis_host']}:{REDIS['redis_port']}/{SCRATCH_DB}"
    unconfirmed = ee("playbooks/redis_flushdb.yml", {"maintenance_flushdb_db": SCRATCH_DB})
    assert unconfirmed.status == "failed" and scratch.exists("selfops:ee-test"), unconfirmed
    flushed = ee("playbooks/redis_flushdb.yml", {"maintenance_flushdb_db": SCRATCH_DB, "maintenance_flushdb_confirm": target})
    assert flushed.status == "successful", flushed
    assert not scratch.exists("selfops:ee-test")
