"""FLUSHDB's decisions (plugins/module_utils/flushdb.py, the script's replies stood in for) and who acted
(plugins/lookup/operator.py): under AWX the job's user and job, from the shell user@host."""
import socket

import pytest

from ansible_collections.selfology.ops.plugins.lookup.operator import LookupModule, awx_job, operator
from ansible_collections.selfology.ops.plugins.module_utils import flushdb
from ansible_collections.selfology.ops.plugins.module_utils.errors import UnsafeOperation

WHERE = "127.0.0.1:16379/9"
SAFE = [["selfology:events", 3, "5-0", [["analysis-workers", 0, 0, "5-0"]]]]
PENDING = [["selfology:events", 4, "6-0", [["analysis-workers", 1, 0, "6-0"]]]]


class FakeRedis:
    """Answers the flush script: `reads` are the snapshots each call sees, in order."""

    def __init__(self, *reads):
        self.reads, self.calls = list(reads), []

    def register_script(self, source):
        assert "FLUSHDB" in source and "SCAN" in source

        def script(keys, args):
            self.calls.append(args)
            size, streams = self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]
            fingerprint = repr(streams)
            if args[0] == "flush" and args[1] not in ("*", fingerprint):
                return ["changed", size, fingerprint, streams]
            return ["flushed" if args[0] == "flush" else "read", size, fingerprint, streams]
        return script


def flush(client, confirm=WHERE, allow_pending=False, check_mode=False):
    return flushdb.flush(client, 9, WHERE, "selfology:events", confirm, allow_pending, check_mode)


def test_a_confirmed_safe_flush_is_judged_and_done_on_the_same_snapshot():
    client = FakeRedis((3, SAFE))
    res = flush(client)
    assert (res["changed"], res["flushed"], res["deleted"]) == (True, True, 3)
    assert client.calls == [["read", ""], ["flush", repr(SAFE)]]
    assert res["plan"]["stream_message"] == (
        "the event stream selfology:events is in db 9 with 3 entries, 0 pending and 0 undelivered")


def test_an_entry_added_between_the_check_and_the_flush_makes_it_refuse():
    client = FakeRedis((3, SAFE), (4, PENDING))
    with pytest.raises(UnsafeOperation, match="changed between the check and the flush") as exc:
        flush(client)
    assert exc.value.result["refused"] == "changed" and exc.value.result["flushed"] is False
    assert exc.value.result["plan"]["now"]["pending"] == 1


@pytest.mark.parametrize("confirm, why", [("", "no confirmation was given"), ("127.0.0.1:16379/0", "does not name it")])
def test_no_flush_without_the_exact_confirmation(confirm, why):
    client = FakeRedis((3, SAFE))
    with pytest.raises(UnsafeOperation, match=why) as exc:
        flush(client, confirm=confirm)
    assert exc.value.result["refused"] == "confirmation" and len(client.calls) == 1


def test_pending_entries_refuse_unless_allowed_and_then_any_snapshot_is_flushed():
    with pytest.raises(UnsafeOperation, match="they would be lost") as exc:
        flush(FakeRedis((4, PENDING)))
    assert exc.value.result["refused"] == "unsafe"
    client = FakeRedis((4, PENDING), (5, PENDING))
    res = flush(client, allow_pending=True)
    assert res["flushed"] and client.calls[1] == ["flush", "*"] and res["plan"]["allow_pending"] is True


def test_check_mode_refuses_the_same_way_and_says_what_would_be_flushed():
    client = FakeRedis((3, SAFE))
    res = flush(client, check_mode=True)
    assert (res["changed"], res["flushed"], res["deleted"]) == (True, False, 3)
    assert client.calls == [["read", ""]]
    with pytest.raises(UnsafeOperation):
        flush(FakeRedis((3, SAFE)), confirm="", check_mode=True)


def test_an_empty_database_has_nothing_to_flush():
    client = FakeRedis((0, []))
    assert flush(client) == {"changed": False, "flushed": False, "deleted": 0, "plan": flush(FakeRedis((0, [])))["plan"]}
    assert len(client.calls) == 1


def test_a_lag_redis_cannot_know_is_read_as_unknown():
    streams = flushdb._streams([["s", 2, "9-0", [["g", 0, -1, "5-0"]]]])
    assert streams[0]["groups"][0]["lag"] is None and streams[0]["groups"][0]["lag_known"] is False


# who acted ------------------------------------------------------------------------------------------

def test_from_the_shell_the_operator_is_user_at_host(monkeypatch):
    monkeypatch.setenv("SELFOPS_USER", "alice")
    assert operator({}) == "alice@%s" % socket.gethostname()
    assert LookupModule().run([], variables={"inventory_hostname": "localhost"}) == [operator({})]
    assert LookupModule().run(["job"], variables={}) == [{}]


def test_under_awx_the_operator_is_the_awx_user_and_job():
    awx = {"awx_user_name": "bob", "awx_job_id": 42, "awx_job_template_name": "Selfology - switch"}
    assert operator(awx) == "bob (AWX job 42, Selfology - switch)"
    assert awx_job(awx) == {"platform": "AWX", "id": 42, "template": "Selfology - switch", "user": "bob"}
    tower = {"tower_user_name": "carol", "tower_job_id": 7}
    assert operator(tower) == "carol (Tower job 7)"
    assert LookupModule().run(["job"], variables=tower)[0]["platform"] == "Tower"


def test_the_lookup_refuses_unknown_terms():
    from ansible.errors import AnsibleError
    with pytest.raises(AnsibleError, match="no term, or job"):
        LookupModule().run(["who"], variables={})
