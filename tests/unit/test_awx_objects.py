"""The AWX/Tower objects of awx/ checked statically (no AWX server can run here).

- every job template names a playbook that exists, and every operator playbook has a template;
- every survey question matches the argument spec of the role entry point its playbook runs
  (the map playbook -> role entry point is computed from playbooks/*.yml, not written here);
- every workflow node names a job template that exists, every link names a node;
- schedules are AWX rrules at the runbook's times;
- no survey question or extra var is a secret; credentials inject what the roles read;
- every awx.awx task's arguments, and the data each task loops over, fit the module's documented
  options (ansible-lint's args rule checks option names too, but gives up on a task as soon as a
  templated value fails a type check, which the data-driven tasks cannot avoid).
"""

import datetime
import importlib.util
import pathlib
import re

import pytest
import yaml
from jinja2.nativetypes import NativeEnvironment
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = pathlib.Path(__file__).resolve().parents[2]
AWX = ROOT / "awx"
PLAYBOOKS = ROOT / "playbooks"
ROLES = ROOT / "roles"
COLLECTION_PREFIX = "selfology.ops."


class _Unsafe(str):
    """An !unsafe string: AWX's own template (an injector), never rendered here."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: _Unsafe(loader.construct_scalar(node)))
_Loader.add_constructor("!vault", lambda loader, node: "<vault>")


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader with two tags


def _vars():
    merged = {}
    for path in sorted((AWX / "vars").glob("*.yml")):
        merged.update(_load(path))
    return merged


VARS = _vars()
_PLAIN_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def render(value):
    """Substitute {{ name }} from the awx vars (enough for the data; lookups stay as written)."""
    if isinstance(value, _Unsafe):
        return value
    if isinstance(value, str):
        whole = _PLAIN_VAR.fullmatch(value.strip())
        if whole and whole.group(1) in VARS:
            return render(VARS[whole.group(1)])
        return _PLAIN_VAR.sub(lambda m: str(render(VARS[m.group(1)])) if m.group(1) in VARS else m.group(0), value)
    if isinstance(value, list):
        return [render(v) for v in value]
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    return value


TEMPLATES = render(VARS["controller_templates"])
WORKFLOWS = render(VARS["controller_workflows"])
SCHEDULES = render(VARS["controller_schedules"])
TEMPLATE_NAMES = {t["name"] for t in TEMPLATES}


# ---- playbook -> role entry points, computed from the playbooks

def _spec_of(role, entry):
    specs = _load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    assert entry in specs, f"role {role} has no entry point {entry}"
    return specs[entry].get("options", {})


def _subst(text, variables):
    return _PLAIN_VAR.sub(lambda m: str(variables.get(m.group(1), m.group(0))), text)


def _tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def entry_points(playbook, inherited=None):
    """(role, entry point) pairs a playbook runs, and the play vars it declares."""
    inherited = dict(inherited or {})
    found, play_vars = [], {}
    for play in _load(PLAYBOOKS / playbook):
        if "ansible.builtin.import_playbook" in play or "import_playbook" in play:
            target = play.get("ansible.builtin.import_playbook") or play["import_playbook"]
            sub_found, sub_vars = entry_points(target, {**inherited, **play.get("vars", {})})
            found += sub_found
            play_vars.update(sub_vars)
            continue
        variables = {**play.get("vars", {}), **inherited}
        play_vars.update(play.get("vars", {}))
        for role in play.get("roles", []):
            name = role["role"] if isinstance(role, dict) else role
            found.append((name.removeprefix(COLLECTION_PREFIX), "main"))
        for task in _tasks(play.get("tasks", []) + play.get("pre_tasks", []) + play.get("post_tasks", [])):
            for module in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
                if module in task:
                    args = task[module]
                    entry = _subst(str(args.get("tasks_from", "main")), variables).removesuffix(".yml")
                    found.append((args["name"].removeprefix(COLLECTION_PREFIX), entry))
    return found, play_vars


def options_for(playbook):
    """Every input a playbook takes: its role entry points' options and its own play vars."""
    found, play_vars = entry_points(playbook)
    options = {}
    for role, entry in found:
        options.update(_spec_of(role, entry))
    for name, default in play_vars.items():
        if name not in options and not name.startswith("bluegreen_action"):
            kind = {bool: "bool", int: "int", float: "float"}.get(type(default), "str")
            options[name] = {"type": kind, "default": default}
    return options


def test_the_map_is_computed_from_the_playbooks():
    assert entry_points("deploy.yml")[0] == [("bluegreen", "deploy")]
    assert entry_points("cleanup.yml")[0] == [("bluegreen", "cleanup")]
    assert entry_points("status.yml")[0] == [("status", "main")]
    assert entry_points("redis_flushdb.yml")[0] == [("maintenance", "flushdb")]


# ---- job templates and playbooks

@pytest.mark.parametrize("template", TEMPLATES, ids=lambda t: t["name"])
def test_every_template_names_a_playbook_that_exists(template):
    assert template["playbook"].startswith("playbooks/")
    assert (ROOT / template["playbook"]).is_file(), template["playbook"]


def test_every_operator_playbook_has_one_template():
    templated = [pathlib.Path(t["playbook"]).name for t in TEMPLATES]
    assert len(templated) == len(set(templated)), "two templates run the same playbook"
    assert len(TEMPLATE_NAMES) == len(TEMPLATES), "two templates have the same name"
    without = VARS["awx_playbooks_without_template"]
    for name in without:
        assert (PLAYBOOKS / name).is_file(), f"{name} is excluded but does not exist"
        assert without[name].strip(), f"{name} is excluded without a reason"
    playbooks = {p.name for p in PLAYBOOKS.glob("*.yml")}
    assert playbooks - set(without) == set(templated)
    assert not set(without) & set(templated)


# ---- surveys against the argument specs

AWX_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def _survey_type(option, derived_choices=False):
    kind = option.get("type", "str")
    if kind == "bool":
        return "multiplechoice"
    if kind == "int":
        return "integer"
    if kind == "float":
        return "float"
    return "multiplechoice" if option.get("choices") or derived_choices else "text"


def _spec_default(option):
    default = option.get("default", "")
    if option.get("type") == "bool":
        return str(bool(default)).lower()
    return default


def _topology():
    return _load(ROOT / "inventory" / "lab" / "group_vars" / "selfology" / "topology.yml")


def _max_replicas():
    source = (ROOT / "plugins" / "module_utils" / "slots.py").read_text(encoding="utf-8")
    return int(re.search(r"^MAX_REPLICAS = (\d+)", source, re.M).group(1))


# Inputs whose spec has no choices but whose valid values live elsewhere in the collection.
DERIVED_CHOICES = {name: lambda: [s["name"] for s in _topology()["selfology_services"]]
                   for name in ("bluegreen_service", "incident_service")}


def _questions():
    for template in TEMPLATES + WORKFLOWS:
        if template in WORKFLOWS:
            playbooks = sorted({
                t["playbook"] for t in TEMPLATES
                for node in template["workflow_nodes"]
                if node["unified_job_template"].get("name") == t["name"]
            })
        else:
            playbooks = [template["playbook"]]
        for question in template.get("survey", []):
            yield pytest.param(playbooks, question, id=f"{template['name']}:{question['variable']}")


@pytest.mark.parametrize(("playbooks", "question"), list(_questions()))
def test_survey_question_matches_the_argument_spec(playbooks, question):
    name = question["variable"]
    candidates = [options_for(pathlib.Path(p).name) for p in playbooks]
    matching = [c[name] for c in candidates if name in c]
    assert matching, f"{name} is not an input of {playbooks}"
    option = matching[0]
    assert all(m == option for m in matching)
    assert question["question_name"].strip()
    assert question["type"] in AWX_TYPES
    derived = name in DERIVED_CHOICES
    assert question["type"] == _survey_type(option, derived), f"{name}: {option.get('type', 'str')} asks as {question['type']}"
    assert question["default"] == _spec_default(option), f"{name}: default {question['default']!r}"

    # Required: as in the spec, or a spec default of "" (no value), which the role refuses.
    if option.get("required"):
        assert question["required"]
    elif question["required"]:
        assert option.get("default") == "", f"{name} is optional in the spec but required in the survey"

    # Choices: a bool's two answers; a spec's choices (its empty choice is "no answer"); the
    # service to scale from the topology; nothing else.
    choices = question.get("choices")
    if option.get("type") == "bool":
        assert choices == ["false", "true"]
    elif option.get("choices"):
        expected = [c for c in option["choices"] if c != ""]
        assert choices == expected
        if "" in option["choices"]:
            assert not question["required"]
    elif derived:
        assert choices == DERIVED_CHOICES[name]()
    else:
        assert choices is None, f"{name} has choices the spec does not declare"

    if name == "bluegreen_replicas":
        assert (question["min"], question["max"]) == (1, _max_replicas())
    if question["type"] in ("integer", "float") and "min" in question:
        assert question["min"] <= question["default"] <= question["max"]


def test_the_runbook_inputs_are_asked():
    asked = {t["name"]: {q["variable"] for q in t.get("survey", [])} for t in TEMPLATES}
    assert asked["Selfology deploy"] == {"bluegreen_version"}
    assert asked["Selfology cleanup"] == {"bluegreen_force", "bluegreen_reason"}
    assert asked["Selfology scale"] == {"bluegreen_service", "bluegreen_replicas"}
    assert "maintenance_archive_older_than" in asked["Selfology maintenance weekly"]
    assert "maintenance_flushdb_confirm" in asked["Selfology redis flushdb"]


# ---- no secrets in surveys or extra vars; credentials inject what the roles read

_SECRET = re.compile(r"password|token|secret|passwd|api_key", re.I)


@pytest.mark.parametrize("template", TEMPLATES + WORKFLOWS, ids=lambda t: t["name"])
def test_no_survey_question_or_extra_var_is_a_secret(template):
    for question in template.get("survey", []):
        assert question["type"] != "password", question["variable"]
        assert not _SECRET.search(question["variable"]), question["variable"]
    assert not template.get("extra_vars"), "inputs come from surveys, secrets from credentials"
    for node in template.get("workflow_nodes", []):
        for key in node.get("extra_data", {}):
            assert not _SECRET.search(key)


def test_credentials_inject_the_variables_the_roles_read():
    types = {t["name"]: t for t in VARS["controller_credential_types"]}
    injected = {}
    for ctype in types.values():
        fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
        extra = ctype["injectors"].get("extra_vars", {})
        for var, template in extra.items():
            assert isinstance(template, _Unsafe), f"{var}: the injector must be !unsafe (AWX renders it)"
            field = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", template).group(1)
            assert field in fields, f"{var} injects an unknown field {field}"
            injected[var] = fields[field]
        for field in fields.values():
            if field.get("secret"):
                assert field["id"] in str(extra.values()), f"secret field {field['id']} is never injected"
    read = " ".join(p.read_text(encoding="utf-8") for p in list(ROLES.rglob("*.yml")) + list(PLAYBOOKS.glob("*.yml"))
                    + list((ROOT / "inventory").rglob("*.yml")))
    for var in injected:
        assert var in read, f"{var} is injected but nothing reads it"
    assert injected["selfology_postgres_password"]["secret"]
    assert injected["selfology_redis_password"]["secret"]
    assert injected["bluegreen_telegram_token"]["secret"]
    # The roles mark the token no_log.
    assert _spec_of("bluegreen", "deploy")["bluegreen_telegram_token"].get("no_log") is True

    for credential in VARS["controller_credentials"]:
        assert credential["credential_type"] in types
        for value in credential["inputs"].values():
            assert re.fullmatch(r"\{\{ lookup\('ansible\.builtin\.env', '[A-Z_]+'\) \}\}", value), \
                f"{credential['name']}: a credential input comes from the environment, never a file"
    names = {c["name"] for c in VARS["controller_credentials"]}
    for template in TEMPLATES:
        assert set(template.get("credentials", [])) <= names, template["name"]


# ---- the workflow

def test_workflow_nodes_name_templates_that_exist_and_links_name_nodes():
    for workflow in WORKFLOWS:
        nodes = workflow["workflow_nodes"]
        identifiers = [n["identifier"] for n in nodes]
        assert len(identifiers) == len(set(identifiers))
        for node in nodes:
            ujt = node["unified_job_template"]
            assert ujt["type"] in ("job_template", "workflow_approval")
            if ujt["type"] == "job_template":
                assert ujt["name"] in TEMPLATE_NAMES, ujt["name"]
            else:
                assert ujt["name"].strip() and ujt["description"].strip()
                assert isinstance(ujt["timeout"], int)
            for kind, links in node.get("related", {}).items():
                assert kind in ("success_nodes", "failure_nodes", "always_nodes")
                for link in links:
                    assert link["identifier"] in identifiers, link
            assert "bluegreen_force" not in node.get("extra_data", {}), "the workflow never forces"


def _graph(workflow):
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}

    def after(identifier, kind):
        return [link["identifier"] for link in nodes[identifier].get("related", {}).get(kind, [])]

    def template(identifier):
        return nodes[identifier]["unified_job_template"]

    return nodes, after, template


def test_the_standard_deployment_workflow():
    workflow = next(w for w in WORKFLOWS if w["name"] == VARS["awx_workflow_deploy"])
    nodes, after, template = _graph(workflow)
    roots = set(nodes) - {i for n in nodes for k in ("success_nodes", "failure_nodes", "always_nodes") for i in after(n, k)}
    assert [template(r)["name"] for r in roots] == ["Selfology deploy"]

    # deploy -> smoke -> approval -> switch, each on success.
    path, current = [], roots.pop()
    while True:
        path.append(template(current).get("name") if template(current)["type"] == "job_template" else "approval")
        following = after(current, "success_nodes")
        if not following:
            break
        assert len(following) == 1
        current = following[0]
    assert path == ["Selfology deploy", "Selfology smoke", "approval", "Selfology switch", "Selfology post-switch analysis",
                    "approval", "Selfology cleanup"]

    # Rollback on the failure path of the switch and of every later node but the cleanup (a refused
    # cleanup leaves both slots); the cleanup approval's denial is the rollback.
    rollback = next(i for i in nodes if template(i).get("name") == "Selfology rollback")
    switch = next(i for i in nodes if template(i).get("name") == "Selfology switch")
    assert after(switch, "failure_nodes") == [rollback]
    from_switch, later = [switch], after(switch, "success_nodes")
    while later:
        node = later[0]
        from_switch.append(node)
        if template(node).get("name") != "Selfology cleanup":
            assert after(node, "failure_nodes") == [rollback], node
        later = after(node, "success_nodes")
    # Nothing before the switch rolls back: traffic has not moved yet.
    assert {n for n in nodes if rollback in after(n, "failure_nodes")} <= set(from_switch)
    # The cleanup approval never times out into a rollback.
    cleanup_approval = next(n for n in nodes if after(n, "success_nodes") and
                            template(after(n, "success_nodes")[0]).get("name") == "Selfology cleanup")
    assert template(cleanup_approval)["timeout"] == 0
    # The marked place of the post-switch analysis node (issue 10).
    text = (AWX / "vars" / "workflows.yml").read_text(encoding="utf-8")
    assert "PLACE OF THE POST-SWITCH ANALYSIS NODE" in text


# ---- schedules

_RRULE = re.compile(
    r"DTSTART;TZID=(?P<tz>[A-Za-z_]+(?:/[A-Za-z_]+)*):(?P<date>\d{8})T(?P<time>\d{6}) "
    r"RRULE:(?P<rule>FREQ=(?:DAILY|WEEKLY|MONTHLY|HOURLY|MINUTELY)(?:;[A-Z]+=[A-Z0-9,+-]+)*)"
)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s["name"])
def test_schedules_are_rrules_of_existing_templates(schedule):
    match = _RRULE.fullmatch(schedule["rrule"])
    assert match, schedule["rrule"]
    assert schedule["unified_job_template"] in TEMPLATE_NAMES | {w["name"] for w in WORKFLOWS}
    assert schedule["unified_job_template"] != "Selfology redis flushdb", "FLUSHDB is never automatic"


def test_the_runbook_times():
    by_template = {s["unified_job_template"]: _RRULE.fullmatch(s["rrule"]) for s in SCHEDULES}
    daily = by_template["Selfology check daily"]
    assert daily["time"] == "090000" and "FREQ=DAILY" in daily["rule"]
    weekly = by_template["Selfology maintenance weekly"]
    assert weekly["time"] == "100000" and "FREQ=WEEKLY" in weekly["rule"] and "BYDAY=MO" in weekly["rule"]
    assert datetime.datetime.strptime(weekly["date"], "%Y%m%d").weekday() == 0  # a Monday
    assert all(m["tz"] == VARS["awx_timezone"] for m in by_template.values())


# ---- the awx.awx tasks' arguments, and the data they loop over, against the modules' options

def _awx_module_path(name):
    spec = importlib.util.find_spec("ansible_collections.awx.awx")
    assert spec and spec.submodule_search_locations, "awx.awx is not installed (the ansible package carries it)"
    return pathlib.Path(spec.submodule_search_locations[0]) / "plugins" / "modules" / f"{name}.py"


def _doc_options(name):
    source = _awx_module_path(name).read_text(encoding="utf-8")
    doc = yaml.safe_load(re.search(r"DOCUMENTATION = r?'''(.*?)'''", source, re.S).group(1))
    auth = _awx_module_path(name).parents[1] / "doc_fragments" / "auth.py"
    auth_doc = yaml.safe_load(re.search(r"DOCUMENTATION = r'''(.*?)'''", auth.read_text(encoding="utf-8"), re.S).group(1))
    return {**doc["options"], **auth_doc["options"]}


def _argspec(options):
    spec = {}
    for name, option in options.items():
        entry = {"type": option.get("type", "str")}
        for key in ("choices", "elements", "aliases"):
            if key in option:
                entry[key] = option[key]
        if "suboptions" in option:
            entry["options"] = _argspec(option["suboptions"])
        spec[name] = entry
    return spec


def _awx_tasks():
    play = _load(AWX / "configure.yml")[0]
    for task in play["tasks"]:
        modules = [k for k in task if k.startswith("awx.awx.")]
        if modules:
            yield pytest.param(task, modules[0].split(".")[-1], id=task["name"])


@pytest.mark.parametrize(("task", "module"), list(_awx_tasks()))
def test_awx_task_arguments_and_data_fit_the_module(task, module):
    options = _doc_options(module)
    names = set(options) | {a for o in options.values() for a in o.get("aliases", [])}
    args = task[f"awx.awx.{module}"]
    assert set(args) <= names, f"unknown options {set(args) - names}"
    assert not {"controller_host", "controller_oauthtoken", "controller_password", "controller_username"} & set(args), \
        "the controller's login comes from the environment"

    validator = ArgumentSpecValidator(_argspec(options))
    if "loop" not in task:
        # One object: its arguments, templated (twice: the variable, then the expression it holds).
        env = NativeEnvironment()

        def native(value):
            return env.from_string(value).render(**VARS) if isinstance(value, str) and "{{" in value else value
        result = validator.validate({option: native(native(value)) for option, value in args.items()})
        assert not result.error_messages, result.error_messages
        return

    # The data: every key of every item is read by the task (none silently ignored), and the
    # arguments the task builds from it type-check against the module's documented options.
    source = task["loop"]
    items = render(VARS[_PLAIN_VAR.fullmatch(source).group(1)])
    task_text = yaml.safe_dump(task)
    for item in items:
        unused = {key for key in item if f"item.{key}" not in task_text}
        assert not unused, f"{item['name']}: {unused} are not read by the task"
        built = {}
        for option, value in args.items():
            plain = re.fullmatch(r"\{\{ item\.(\w+)(?: \| default\((omit|[a-z_]+)(?:, true)?\))? \}\}", str(value))
            if isinstance(value, (bool, int)) or not isinstance(value, str) or "{{" not in value:
                built[option] = value
            elif plain:
                key, default = plain.groups()
                if key in item and item[key] not in ("", None):
                    built[option] = item[key]
                elif default in ("true", "false"):
                    built[option] = default == "true"
                elif default and default != "omit":
                    built[option] = render("{{ %s }}" % default)
            elif option == "survey_spec" and item.get("survey"):
                built[option] = {"name": item["name"], "description": "", "spec": item["survey"]}
            elif option == "credentials":
                built[option] = item.get("credentials", [])
        result = validator.validate(built)
        assert not result.error_messages, f"{item['name']}: {result.error_messages}"


@pytest.mark.parametrize("template", TEMPLATES + WORKFLOWS, ids=lambda t: t["name"])
def test_survey_questions_are_complete(template):
    for question in template.get("survey", []):
        assert {"question_name", "variable", "type", "required", "default"} <= set(question)
        assert set(question) <= {"question_name", "question_description", "variable", "type", "required",
                                 "default", "choices", "min", "max"}


# ---- AWX answers a multiplechoice with a string: a bool input must be read with `| bool`

def _bool_questions():
    for template in TEMPLATES:
        for question in template.get("survey", []):
            option = options_for(pathlib.Path(template["playbook"]).name)[question["variable"]]
            if option.get("type") == "bool":
                roles = {role for role, _entry in entry_points(pathlib.Path(template["playbook"]).name)[0]}
                yield question["variable"], roles


def _uncast_uses():
    uses = set()
    for variable, roles in set((v, tuple(sorted(r))) for v, r in _bool_questions()):
        for role in roles:
            for path in (ROLES / role / "tasks").rglob("*.yml"):
                for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    if re.match(r"\s*(#|-?\s*name:)", line):  # comments and task names are not expressions
                        continue
                    for match in re.finditer(rf"\b{variable}\b", line):
                        rest = line[match.end():]
                        whole_value = re.search(rf"\"\{{\{{ {variable} \}}\}}\"\s*$", line)  # a module argument
                        if not re.match(r"\s*\|\s*bool\b", rest) and not whole_value:
                            uses.add(f"{path.relative_to(ROOT)}:{number}")
    return sorted(uses)


def test_bool_survey_inputs_are_read_with_the_bool_filter():
    assert _uncast_uses() == []
