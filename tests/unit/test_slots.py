import pytest

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError
from ansible_collections.selfology.ops.plugins.module_utils import slots
from ansible_collections.selfology.ops.plugins.modules.slot_state import desired_state
from ansible_collections.selfology.ops.plugins.modules.slot_info import summarize
from ansible_collections.selfology.ops.plugins.filter.slots import slot_endpoints


@pytest.mark.parametrize("version", ["1.2.0", "v1.2.0", "2026.11.29-rc1", "latest", "1_0"])
def test_tag_like_versions_are_accepted(version):
    assert slots.validate_version(version) == version


@pytest.mark.parametrize("version", ["", "1.2.0; rm -rf /", "1.2 .0", "$(id)", "-1.0", ".1", "a" * 129, "1.0\n"])
def test_hostile_versions_are_refused(version):
    with pytest.raises(SelfologyError, match="invalid version"):
        slots.validate_version(version)


@pytest.mark.parametrize("slot", ["purple", "", "Blue", "blue; ls"])
def test_unknown_slots_are_refused(slot):
    with pytest.raises(SelfologyError, match="unknown slot"):
        slots.validate_slot(slot)


def test_other_slot_and_container_names():
    assert slots.other_slot("blue") == "green"
    assert slots.other_slot("green") == "blue"
    assert slots.container_name("analysis-worker", "green") == "selfology-analysis-worker-green"
    with pytest.raises(SelfologyError):
        slots.container_name("analysis worker", "green")


def test_state_file_round_trip_is_atomic(tmp_path):
    path = tmp_path / "state" / "slots.json"
    assert slots.read_state(str(path)) == {}
    slots.write_state(str(path), {"active": "blue"})
    assert slots.read_state(str(path)) == {"active": "blue"}
    assert [p.name for p in path.parent.iterdir()] == ["slots.json"], "no temporary file is left behind"


def test_a_corrupt_state_file_is_an_error_not_an_empty_state(tmp_path):
    path = tmp_path / "slots.json"
    path.write_text("{half")
    with pytest.raises(SelfologyError, match="cannot read slot state"):
        slots.read_state(str(path))


def test_switching_records_the_previous_slot_and_time():
    before = {"active": "blue", "versions": {"blue": "1.0.0"}}
    after = desired_state(before, "green", {"green": "1.1.0"}, "T1")
    assert after == {"active": "green", "previous": "blue", "switched_at": "T1",
                     "versions": {"blue": "1.0.0", "green": "1.1.0"}, "deployed_at": {"green": "T1"}}


def test_a_deploy_forgets_the_previous_slot_it_overwrote():
    before = {"active": "green", "previous": "blue", "versions": {"blue": "1.0.0", "green": "1.1.0"}}
    after = desired_state(before, "green", {"blue": "1.2.0"}, "T3", forget_previous=True)
    assert after["previous"] is None and after["versions"]["blue"] == "1.2.0"
    assert after["deployed_at"] == {"blue": "T3"}


def test_replicas_are_merged_and_one_means_default():
    after = desired_state({"active": "blue", "replicas": {"analysis-worker": 3}}, "blue", {}, "T",
                          replicas={"question-selection": 2, "analysis-worker": 1})
    assert after["replicas"] == {"question-selection": 2}


def test_recording_the_same_state_changes_nothing():
    before = {"active": "blue", "versions": {"blue": "1.0.0"}}
    assert desired_state(before, "blue", {"blue": "1.0.0"}, "T2") == before


def test_a_hostile_version_in_state_is_refused():
    with pytest.raises(SelfologyError):
        desired_state({}, "blue", {"blue": "1.0 && reboot"}, "T")


def _container(service, slot, health="healthy", state="running", version="1.0.0"):
    return {"container": f"selfology-{service}-{slot}", "service": service, "slot": slot,
            "version": version, "state": state, "health": health}


def test_summary_reports_missing_and_unhealthy_services():
    services = ["question-selection", "analysis-worker"]
    containers = [_container("question-selection", "blue"), _container("analysis-worker", "blue", health="unhealthy"),
                  _container("question-selection", "green", version="1.1.0")]
    summary = summarize(services, containers, {"active": "blue"})
    assert summary["active_slot"] == "blue" and summary["inactive_slot"] == "green"
    assert not summary["slots"]["blue"]["healthy"] and summary["slots"]["blue"]["running"]
    green = summary["slots"]["green"]
    assert green["present"] and not green["running"] and green["version"] == "1.1.0"
    assert [s["state"] for s in green["services"]] == ["running", "missing"]


def test_summary_without_recorded_state_has_no_active_slot():
    summary = summarize(["outbox-relay"], [], {})
    assert summary["active_slot"] is None and summary["inactive_slot"] is None
    assert not summary["slots"]["blue"]["present"]


def test_slot_endpoints_adds_the_port_base():
    services = [{"name": "question-selection", "port": 1, "probe": "/p"}, {"name": "outbox-relay", "port": 4}]
    assert slot_endpoints(services, 18200) == [
        {"name": "question-selection", "port": 18201, "probe": "/p"}, {"name": "outbox-relay", "port": 18204}]
