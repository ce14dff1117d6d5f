import pytest

from ansible_collections.selfology.ops.plugins.module_utils.deploy import desired_containers, plan, replica_name
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.modules.slot_info import find_drift, summarize

PARAMS = {"slot": "green", "version": "1.2.0", "network": "net", "bind_address": "127.0.0.1", "labels": {},
          "env": {"REDIS_URL": "redis://r"}, "replicas": {},
          "services": [{"name": "question-selection", "port": 18201}, {"name": "outbox-relay", "port": 18204}]}


def existing_from(specs, status="running"):
    return {s["name"]: {"labels": s["labels"], "status": status} for s in specs}


def test_a_slot_already_as_wanted_is_kept():
    specs = desired_containers(PARAMS, "sha256:a")
    assert [a["action"] for a in plan(specs, existing_from(specs))] == ["keep", "keep"]


def test_a_new_image_or_environment_recreates_and_a_stopped_container_starts():
    old = existing_from(desired_containers(PARAMS, "sha256:a"))
    assert {a["action"] for a in plan(desired_containers(PARAMS, "sha256:b"), old)} == {"recreate"}
    changed_env = dict(PARAMS, env={"REDIS_URL": "redis://other"})
    assert {a["action"] for a in plan(desired_containers(changed_env, "sha256:a"), old)} == {"recreate"}
    stopped = existing_from(desired_containers(PARAMS, "sha256:a"), status="exited")
    assert {a["action"] for a in plan(desired_containers(PARAMS, "sha256:a"), stopped)} == {"start"}


def test_replicas_beyond_the_count_are_removed_and_only_the_first_publishes_a_port():
    three = desired_containers(dict(PARAMS, replicas={"outbox-relay": 3}), "sha256:a")
    names = [s["name"] for s in three]
    assert names == ["selfology-question-selection-green", "selfology-outbox-relay-green",
                     "selfology-outbox-relay-green-2", "selfology-outbox-relay-green-3"]
    assert [s["port"] for s in three] == [18201, 18204, None, None]
    actions = plan(desired_containers(PARAMS, "sha256:a"), existing_from(three))
    assert [(a["name"], a["action"]) for a in actions if a["action"] == "remove"] == [
        ("selfology-outbox-relay-green-2", "remove"), ("selfology-outbox-relay-green-3", "remove")]
    assert replica_name("outbox-relay", "blue", 1) == "selfology-outbox-relay-blue"


@pytest.mark.parametrize("change", [{"version": "1.2; rm -rf /"}, {"slot": "purple"},
                                    {"replicas": {"outbox-relay": 0}}, {"services": [{"name": "Bad Name"}]}])
def test_bad_input_is_refused(change):
    with pytest.raises(SelfologyError):
        desired_containers(dict(PARAMS, **change), "sha256:a")


def _summary(active="blue", versions=None, green_present=True):
    containers = [{"container": "selfology-outbox-relay-blue", "version": "1.0.0", "state": "running", "health": "healthy"}]
    if green_present:
        containers.append({"container": "selfology-outbox-relay-green", "version": "1.1.0", "state": "running",
                           "health": "healthy"})
    return summarize(["outbox-relay"], containers, {"active": active, "versions": versions or {"blue": "1.0.0", "green": "1.1.0"}})


def test_no_drift_when_everything_agrees():
    assert find_drift(_summary(), {"live": "blue", "file": "blue"}, "blue", True) == []


def test_each_disagreement_is_said_plainly():
    drift = find_drift(_summary(versions={"blue": "1.0.0", "green": "9.9.9"}), {"live": "green", "file": "green"}, "green", True)
    assert drift == [
        "the load balancer sends traffic to green but the recorded active slot is blue",
        "Redis says green consumes events but the recorded active slot is blue",
        "slot green is recorded as 9.9.9 but its containers run 1.1.0",
    ]
    assert find_drift(_summary(green_present=False)) == ["slot green is recorded as running 1.1.0 but has no containers"]


def test_a_load_balancer_that_would_move_traffic_on_restart_or_does_not_answer_is_drift():
    assert find_drift(_summary(), {"live": "blue", "file": "green"}, "blue", True) == [
        "the load balancer's map file names green but it sends traffic to blue: a restart would move it"]
    assert find_drift(_summary(), {"live": None, "file": "blue", "error": "the admin socket does not answer"}) == [
        "the admin socket does not answer"]
