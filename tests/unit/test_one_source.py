"""Each rule has one source: the roles' Jinja tests and the CLI use the modules' own rules."""
import sys

import pytest

from ansible_collections.selfology.ops.plugins.module_utils import slots
from ansible_collections.selfology.ops.plugins.test.selfology import duration, replica_count, version
from lab import ROOT
from selfops import collection


@pytest.mark.parametrize("value", ["1.2.0", "v1.2.0", "latest", "", "1.2.0; rm -rf /", "-1", "a" * 129, 7])
def test_version_test_is_the_modules_rule(value):
    accepted = isinstance(value, str) and bool(slots.VERSION.fullmatch(value))
    assert version(value) is accepted


@pytest.mark.parametrize("value, accepted", [
    (1, True), ("1", True), (slots.MAX_REPLICAS, True), (slots.MAX_REPLICAS + 1, False),
    (0, False), ("-1", False), ("2.5", False), ("3; ls", False), (None, False),
])
def test_replica_count_test_uses_the_scale_limit(value, accepted):
    assert replica_count(value) is accepted


@pytest.mark.parametrize("value, accepted", [("5s", True), ("500ms", True), ("1m", True), ("1min", False),
                                             ("2 seconds", False), ("", False), (5, False)])
def test_duration_test_is_the_duration_grammar(value, accepted):
    assert duration(value) is accepted


def test_the_services_know_exactly_the_faults_the_lab_role_offers():
    sys.path.insert(0, str(ROOT / "lab" / "app"))
    try:
        from selfology_app.config import FAULTS
    finally:
        sys.path.remove(str(ROOT / "lab" / "app"))
    assert list(FAULTS) == collection.lab_faults()
