"""The export file: one gzip member per batch, fsynced before the batch commits; a torn last member
(a run killed while writing) is cut off by the next run; a foreign file is never appended to."""
import gzip
import json
import os
import stat

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import outbox
from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError


def rows(first, count):
    """Batches as the move statement returns them for the export: one JSON text per row."""
    return [json.dumps({"id": i, "event_type": "answer.submitted", "payload": {"user_id": i, "text": "é"},
                        "status": "published", "created_at": "2026-01-01T10:00:00+00:00",
                        "published_at": "2026-01-01T10:00:01+00:00", "archived_at": "2026-03-01T10:00:00+00:00"},
                       ensure_ascii=False)
            for i in range(first, first + count)]


def test_batches_are_appended_and_readable_by_gzip(tmp_path):
    path = str(tmp_path / "outbox.jsonl.gz")
    export = outbox.ExportFile(path)
    export.write(rows(1, 3))
    export.write(rows(4, 2))
    export.close()
    assert export.rows == 5
    records = outbox.read_export(path)
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0] == {"id": 1, "event_type": "answer.submitted", "payload": {"user_id": 1, "text": "é"},
                          "status": "published", "created_at": "2026-01-01T10:00:00+00:00",
                          "published_at": "2026-01-01T10:00:01+00:00", "archived_at": "2026-03-01T10:00:00+00:00"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    size, good = outbox.inspect_export(path)
    assert size == good == os.path.getsize(path)


def test_a_second_run_appends(tmp_path):
    path = str(tmp_path / "outbox.jsonl.gz")
    for first in (1, 10):
        export = outbox.ExportFile(path)
        export.write(rows(first, 2))
        export.close()
    assert [r["id"] for r in outbox.read_export(path)] == [1, 2, 10, 11]


@pytest.mark.parametrize("keep", [1, 10, 30])
def test_a_torn_last_batch_is_cut_off_by_the_next_run(tmp_path, keep):
    path = str(tmp_path / "outbox.jsonl.gz")
    export = outbox.ExportFile(path)
    export.write(rows(1, 100))
    export.close()
    complete = os.path.getsize(path)
    torn = gzip.compress(b"".join(b'{"id":%d}\n' % i for i in range(101, 200)))[:keep]
    with open(path, "ab") as handle:
        handle.write(torn)
    assert outbox.inspect_export(path) == (complete + keep, complete)
    export = outbox.ExportFile(path)
    assert export.torn_bytes == keep
    export.write(rows(101, 5))
    export.close()
    assert [r["id"] for r in outbox.read_export(path)] == list(range(1, 106))


def test_a_large_export_is_inspected_across_read_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(outbox, "EXPORT_CHUNK", 97)
    path = str(tmp_path / "outbox.jsonl.gz")
    export = outbox.ExportFile(path)
    for first in range(1, 500, 50):
        export.write(rows(first, 50))
    export.close()
    size = os.path.getsize(path)
    assert outbox.inspect_export(path) == (size, size)


def test_an_empty_file_is_accepted(tmp_path):
    path = tmp_path / "outbox.jsonl.gz"
    path.write_bytes(b"")
    assert outbox.inspect_export(str(path)) == (0, 0)


@pytest.mark.parametrize("content", [b"not gzip at all\n", b"\x1f\x8bXXXXXXXXXXXXXX", gzip.compress(b"hello world\n")])
def test_a_foreign_file_is_never_appended_to(tmp_path, content):
    path = tmp_path / "notes.gz"
    path.write_bytes(content)
    with pytest.raises(SelfologyError, match="refusing to append"):
        outbox.ExportFile(str(path))
    assert path.read_bytes() == content


def test_a_failed_write_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = str(tmp_path / "outbox.jsonl.gz")
    export = outbox.ExportFile(path)
    export.write(rows(1, 2))
    before = open(path, "rb").read()
    real_write = os.write
    calls = []

    def short_then_fail(fd, data):
        calls.append(1)
        if len(calls) == 1:
            return real_write(fd, bytes(data[:5]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", short_then_fail)
    with pytest.raises(SelfologyError, match="No space left on device"):
        export.write(rows(3, 2))
    monkeypatch.undo()
    export.close()
    assert open(path, "rb").read() == before
