"""Each role's argument spec states its defaults again (ansible-doc and AWX surveys read them there):
they must agree with defaults/main.yml, so a default changed in one place is caught. Defaults that
are templates (derived from other variables) are the defaults file's alone, and a required input
has none to state."""
import pathlib

import pytest
import yaml

ROLES = pathlib.Path(__file__).resolve().parents[2] / "roles"


def _options():
    for role in sorted(ROLES.iterdir()):
        defaults_file, specs_file = role / "defaults" / "main.yml", role / "meta" / "argument_specs.yml"
        if not (defaults_file.exists() and specs_file.exists()):
            continue
        defaults = yaml.safe_load(defaults_file.read_text()) or {}
        for entry, spec in yaml.safe_load(specs_file.read_text())["argument_specs"].items():
            for name, option in (spec.get("options") or {}).items():
                derived = isinstance(defaults.get(name), str) and "{{" in defaults[name]
                if name in defaults and not derived and not option.get("required"):
                    yield pytest.param(option, defaults[name], id=f"{role.name}:{entry}:{name}")


@pytest.mark.parametrize(("option", "default"), list(_options()))
def test_the_spec_states_the_default_of_the_defaults_file(option, default):
    assert "default" in option, f"the spec gives no default; defaults/main.yml has {default!r}"
    assert option["default"] == default
