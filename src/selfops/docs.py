"""selfops docs runbook: the runbook's procedures as they are implemented (Monthly Checklist - "Review and
update runbook"), generated from the code so that document and code cannot drift apart.

Everything comes from where it is defined: the commands from the argparse parser cli.build_parser() builds,
each command's playbook by the naming rule the commands follow (PLAYBOOK_RULE), what a playbook runs from
playbooks/ and roles/, the AWX objects from awx/vars/, the alerts from the monitoring role's rule templates and
their routes from its Alertmanager template (both rendered with the role's defaults, as the role renders
them), the automatic responses from the EDA rulebook. Output is sorted and carries no timestamp, so the same
tree always gives the same file (tests/unit/test_docs_runbook.py compares it with docs/runbook.md).
"""
import argparse
import re
import sys
from pathlib import Path

import yaml

from . import collection

RULES_DIR = Path("roles") / "monitoring" / "templates" / "rules"
ALERTMANAGER_TEMPLATE = Path("roles") / "monitoring" / "templates" / "alertmanager.yml.j2"
RULEBOOK = Path("extensions") / "eda" / "rulebooks" / "selfology_incidents.yml"
PLAYBOOK_RULE = ("a command runs the playbook named after its words joined by `_` (`check daily` runs "
                 "check_daily.yml, `incident service-down` incident_service_down.yml), else after its last word "
                 "(`maintenance redis-flushdb` runs redis_flushdb.yml), else after its first (`monitoring install` "
                 "runs monitoring.yml); tests/unit/test_docs_runbook.py runs every command with the playbook "
                 "runner stubbed and checks that each runs the playbook this rule names")
# Alerts that only page a person, with no command or playbook to run, and why. Every other alert must name
# its handling command in its `command` annotation (the docs test checks that the command exists).
PAGE_ONLY = {}
# What the Alertmanager template is rendered with besides the role's defaults: stand-ins for what an
# inventory must give (never shown), and a webhook URL so that the optional EDA route is rendered too.
_ALERTMANAGER_STAND_INS = {
    "monitoring_telegram_bot_token": "stand-in-token",
    "monitoring_telegram_chat_oncall": -1,
    "monitoring_telegram_chat_secondary": -2,
    "monitoring_telegram_chat_manager": -3,
}
_EDA_URL = {"monitoring_eda_webhook_url": "http://eda.invalid:5001/alerts"}
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*\Z')


def add_parsers(sub, common):
    """Adds `selfops docs runbook` (it runs no playbook, so it takes none of the common options)."""
    del common
    docs = sub.add_parser("docs", help="documentation generated from the code")
    docs_sub = docs.add_subparsers(dest="docs_command", required=True, metavar="DOCUMENT")
    runbook = docs_sub.add_parser(
        "runbook", help="the runbook's procedures as implemented, in Markdown",
        description="Writes the runbook's procedures as they are implemented: every selfops command with its help, "
                    "the playbook it runs, the roles and task files that playbook includes and the AWX job template "
                    "running the same playbook; every alert with its severity, summary, `for`, the command or "
                    "rulebook rule that handles it and its Alertmanager route. Generated from the code, sorted, "
                    "without timestamps (docs/runbook.md is this output).")
    runbook.add_argument("--output", type=Path, metavar="PATH", help="write the Markdown here instead of stdout")


def cmd_docs(args):
    text = runbook_markdown()
    if args.output:
        args.output.write_text(text)
        print(f"Wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = {"docs": cmd_docs}


# The commands -------------------------------------------------------------------------------------

# argparse keeps the tree it parses in private attributes (_actions, _choices_actions): reading them is the only
# way to walk it, and what --help prints comes from the same attributes.
def _subparsers(parser):
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def commands(parser):
    """Every leaf command of the parser, sorted by its words: dicts of words, help, description, the
    parser, and `actions` (the choices of a positional that selects what the command does, as in
    `backup [take|schedule]`)."""
    found = []

    def walk(current, words, help_text):
        sub = _subparsers(current)
        if sub is None:
            choice = next((a for a in current._actions if not a.option_strings and a.choices
                           and not isinstance(a, argparse._SubParsersAction)), None)
            found.append({"words": words, "help": help_text or "", "parser": current,
                          "description": _description(current),
                          "actions": sorted(choice.choices) if choice else []})
            return
        helps = {a.dest: a.help for a in sub._choices_actions}
        for name, child in sub.choices.items():
            walk(child, words + [name], helps.get(name))

    walk(parser, [], parser.description)
    return sorted(found, key=lambda c: c["words"])


def _description(parser):
    """The description as --help shows it (argparse substitutes only %(prog)s in it)."""
    text = parser.description or ""
    return text % {"prog": parser.prog} if "%(prog)" in text else text


def _options(parser, common_flags):
    """The command's own options and arguments as --help shows them, without -h and the common options."""
    formatter = argparse.HelpFormatter(parser.prog)
    shown = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if set(action.option_strings) & common_flags:
            continue
        invocation = formatter._format_action_invocation(action)
        shown.append((invocation, formatter._expand_help(action) if action.help else ""))
    return shown


def playbook_for(words, playbooks):
    """The playbook a command runs by PLAYBOOK_RULE, or None when it runs none."""
    names = [w.replace("-", "_") for w in words]
    for candidate in ("_".join(names), names[-1], names[0]):
        if candidate in playbooks:
            return candidate
    return None


def runs(command, playbooks):
    """[(action or None, playbook or None)] of a command: one per action when a positional selects it."""
    if command["actions"]:
        return [(action, playbook_for(command["words"] + [action], playbooks)) for action in command["actions"]]
    return [(None, playbook_for(command["words"], playbooks))]


# Playbooks, roles and task files --------------------------------------------------------------------

class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML as the files are read here: Ansible's own tags (!unsafe, !vault) read as their plain value."""


_Loader.add_multi_constructor("!", lambda loader, _suffix, node: loader.construct_scalar(node)
                              if isinstance(node, yaml.ScalarNode) else None)


def _load(path):
    return yaml.load(Path(path).read_text(), Loader=_Loader) or {}  # noqa: S506 - a SafeLoader


def _header(path):
    """The comment block a file starts with, as one paragraph."""
    lines = []
    for line in Path(path).read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(line for line in lines if line)


def _resolve(value, variables):
    """A bare {{ name }} replaced by its value when known (tasks_from: "{{ bluegreen_action }}")."""
    match = re.fullmatch(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", str(value))
    return str(variables.get(match.group(1), value)) if match else str(value)


def _short_role(name):
    return str(name).rsplit(".", maxsplit=1)[-1]


def _module_key(task, short):
    """The argument of a task's action when the action is `short` (FQCN or not), else None."""
    for key in (short, "ansible.builtin." + short, "ansible.legacy." + short):
        if key in task:
            return task[key]
    return None


def _tasks(tasks):
    """Every task of a task list, blocks opened."""
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        if "block" in task:
            for part in ("block", "rescue", "always"):
                yield from _tasks(task.get(part))
        else:
            yield task


class PlaybookIndex:
    """What each playbook runs: the playbooks it imports, the role entry points it applies (with the role
    dependencies) and every task file they pull in."""

    def __init__(self, root):
        self.root = root
        self.playbooks = sorted(p.stem for p in (root / "playbooks").glob("*.yml"))
        self._files = {}

    def load(self, path):
        """A YAML file, parsed once (role task files are shared by many playbooks)."""
        if path not in self._files:
            self._files[path] = _load(path)
        return self._files[path]

    def role_entry_description(self, role, entry):
        specs = self.root / "roles" / role / "meta" / "argument_specs.yml"
        if not specs.exists():
            return ""
        return ((self.load(specs).get("argument_specs") or {}).get(entry) or {}).get("short_description", "")

    def contents(self, name):
        found = {"imports": set(), "roles": set(), "dependencies": set(), "task_files": set()}
        self._playbook(self.root / "playbooks" / f"{name}.yml", {}, found, set())
        found["dependencies"] -= {role for role, _entry in found["roles"]}
        return {key: sorted(value) for key, value in found.items()}

    def _playbook(self, path, variables, found, seen):
        plays = self.load(path)
        for play in plays if isinstance(plays, list) else []:
            play_vars = dict(variables, **(play.get("vars") or {}))
            imported = _module_key(play, "import_playbook")
            if imported:
                target = path.parent / _resolve(imported, play_vars)
                found["imports"].add(target.stem)
                self._playbook(target, play_vars, found, seen)
                continue
            for role in play.get("roles") or []:
                role_name = role if isinstance(role, str) else role.get("role") or role.get("name")
                self._role(_short_role(role_name), "main", play_vars, found, seen)
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                self._task_list(play.get(section), path.parent, None, play_vars, found, seen)

    def _role(self, role, entry, variables, found, seen, dependency=False):
        if (role, entry) in seen:
            if not dependency:
                found["roles"].add((role, entry))
            return
        seen.add((role, entry))
        found["dependencies" if dependency else "roles"].add((role, entry) if not dependency else role)
        meta = self.root / "roles" / role / "meta" / "main.yml"
        for needed in (self.load(meta).get("dependencies") or []) if meta.exists() else []:
            name = needed if isinstance(needed, str) else needed.get("role") or needed.get("name")
            self._role(_short_role(name), "main", variables, found, seen, dependency=True)
        self._task_file(self.root / "roles" / role / "tasks" / f"{entry}.yml", role, variables, found, seen)

    def _task_file(self, path, role, variables, found, seen):
        if not path.exists():
            found["task_files"].add(str(path.relative_to(self.root)) + " (missing)")
            return
        relative = str(path.relative_to(self.root))
        if relative in found["task_files"]:
            return
        found["task_files"].add(relative)
        tasks = self.load(path)
        self._task_list(tasks if isinstance(tasks, list) else [], path.parent, role, variables, found, seen)

    def _task_list(self, tasks, directory, role, variables, found, seen):
        for task in _tasks(tasks):
            for short in ("include_role", "import_role"):
                spec = _module_key(task, short)
                if isinstance(spec, dict):
                    entry = _resolve(spec.get("tasks_from", "main"), dict(variables, **(task.get("vars") or {})))
                    self._role(_short_role(spec["name"]), entry.removesuffix(".yml"), variables, found, seen)
            for short in ("include_tasks", "import_tasks"):
                spec = _module_key(task, short)
                spec = spec.get("file") if isinstance(spec, dict) else spec
                if not spec:
                    continue
                if "{{" in str(spec):  # chosen at run time
                    found["task_files"].add(f"{directory.relative_to(self.root)}/{spec}")
                else:
                    self._task_file(directory / spec, role, variables, found, seen)


# AWX ------------------------------------------------------------------------------------------------

def awx_objects(root):
    """Job templates by playbook, and the schedules and workflow nodes that run each template."""
    data = {}
    for path in sorted((root / "awx" / "vars").glob("*.yml")):
        data.update(_load(path))
    templates = {}
    for template in data.get("controller_templates") or []:
        templates.setdefault(Path(template["playbook"]).stem, []).append(template)
    schedules, nodes = {}, {}
    for schedule in data.get("controller_schedules") or []:
        schedules.setdefault(_resolve(schedule.get("unified_job_template"), data), []).append(schedule["name"])
    for workflow in data.get("controller_workflows") or []:
        for node in workflow.get("workflow_nodes") or []:
            target = node.get("unified_job_template") or {}
            if target.get("type") == "job_template":
                nodes.setdefault(target["name"], []).append(
                    f"node `{node['identifier']}` of workflow *{_resolve(workflow['name'], data)}*")
    return {"templates": templates, "schedules": schedules, "nodes": nodes,
            "without_template": data.get("awx_playbooks_without_template") or {}}


# Alerts, Alertmanager, the rulebook ------------------------------------------------------------------

def _template_variables(root):
    """The monitoring role's defaults over those of the role it depends on, with the lab's topology (the
    production inventory's is a link to it), as the role's template tasks see them."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import trust_as_template
    variables = {}
    for role in ("selfology", "monitoring"):
        variables.update(DataLoader().load_from_file(str(root / "roles" / role / "defaults" / "main.yml")))
    variables = {k: trust_as_template(v) if isinstance(v, str) else v for k, v in variables.items()}
    topology = _load(root / "inventory" / "lab" / "group_vars" / "selfology" / "topology.yml")
    variables.update(selfology_services=topology["selfology_services"], selfology_lb_url="http://127.0.0.1:8080",
                     ansible_managed="Ansible managed")
    return variables


def _render(root, template, variables):
    """A template of the monitoring role rendered as its template tasks render it (trim_blocks), parsed."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template
    text = Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template((root / template).read_text()), escape_backslashes=False,
        overrides=dict(trim_blocks=True, lstrip_blocks=False))
    return yaml.safe_load(text) or {}


def alerts(root, variables=None):
    """Every alerting rule of the rule templates, with the labels it carries when it fires (an escalation
    copy of ALERTS{alertname="X"} keeps X's labels)."""
    variables = variables or _template_variables(root)
    found = []
    for path in sorted((root / RULES_DIR).glob("*.j2")):
        for group in _render(root, path.relative_to(root), variables).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    found.append(dict(rule, file=str(path.relative_to(root)), group=group["name"]))
    by_name = {rule["alert"]: rule for rule in found}
    for rule in found:
        source = re.search(r'ALERTS\{alertname="([^"]+)"', str(rule.get("expr", "")))
        inherited = (by_name.get(source.group(1)) or {}).get("labels") or {} if source else {}
        rule["fired_labels"] = dict(inherited, **(rule.get("labels") or {}), alertname=rule["alert"])
        rule["escalates"] = source.group(1) if source else None
        # Escalation copies share their alert name; the level tells them apart.
        level = (rule.get("labels") or {}).get("escalation")
        rule["title"] = f"{rule['alert']} ({level})" if level else rule["alert"]
    return sorted(found, key=lambda r: (r["fired_labels"].get("priority", "P9"), r["title"]))


def _anchor(title):
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", title.lower()).replace(" ", "-")


def _link(title):
    return f"[{title}](#{_anchor(title)})"


def _matches(matchers, labels):
    for matcher in matchers or []:
        name, op, value = _MATCHER.match(matcher).groups()
        actual = labels.get(name, "")
        hit = re.fullmatch(value, actual) is not None if "~" in op else actual == value
        if hit == op.startswith("!"):
            return False
    return True


def receivers_for(route, labels):
    """The receivers Alertmanager sends an alert with these labels to: the first matching route at each
    level and every later one while the routes matched say `continue`; the parent's when none matches."""
    chosen = []
    for child in route.get("routes") or []:
        if _matches(child.get("matchers"), labels):
            chosen += receivers_for(child, labels)
            if not child.get("continue"):
                return chosen
    return chosen or [route.get("receiver")]


def alertmanager(root, variables=None):
    """The rendered Alertmanager configuration, with the routes that exist only when the EDA webhook is set
    marked `optional`."""
    variables = dict(variables or _template_variables(root), **_ALERTMANAGER_STAND_INS)
    plain = _render(root, ALERTMANAGER_TEMPLATE, variables)
    config = _render(root, ALERTMANAGER_TEMPLATE, dict(variables, **_EDA_URL))
    plain_receivers = {r["name"] for r in plain.get("receivers") or []}
    for route in config["route"].get("routes") or []:
        route["optional"] = route.get("receiver") not in plain_receivers
    return config


def rulebook_rules(root):
    """The rulebook's rules: the alert each reacts to and the playbook it starts."""
    found = []
    rulesets = _load(root / RULEBOOK)
    for ruleset in rulesets if isinstance(rulesets, list) else []:
        for rule in ruleset.get("rules") or []:
            alertname = re.search(r'alertname\s*==\s*"([^"]+)"', str(rule.get("condition", "")))
            run = (rule.get("action") or {}).get("run_playbook") or {}
            found.append({"name": rule["name"], "alert": alertname.group(1) if alertname else None,
                          "playbook": _short_role(run.get("name", "")) if run else None,
                          "condition": " ".join(str(rule.get("condition", "")).split()),
                          "extra_vars": sorted((run.get("extra_vars") or {}))})
    return sorted(found, key=lambda r: r["name"])


def handling_command(alert, command_words):
    """The words of the selfops command an alert's `command` annotation names, or None."""
    words = str((alert.get("annotations") or {}).get("command", "")).split()
    if not words or words[0] != "selfops":
        return None
    words = words[1:]
    for length in range(len(words), 0, -1):
        if tuple(words[:length]) in command_words:
            return words[:length]
    return None


# The document ---------------------------------------------------------------------------------------

def _code(text):
    return f"`{text}`"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def runbook_markdown(root=None):
    """The whole document."""
    from . import cli  # cli imports this module
    root = root or collection.root()
    index = PlaybookIndex(root)
    awx = awx_objects(root)
    variables = _template_variables(root)
    rules = alerts(root, variables)
    am = alertmanager(root, variables)
    rulebook = rulebook_rules(root)
    leaves = commands(cli.build_parser())
    common_flags = {flag for flags, _options_ in cli.COMMON_OPTIONS for flag in flags}
    command_words = {tuple(c["words"]) for c in leaves} | {tuple(c["words"] + [a]) for c in leaves for a in c["actions"]}
    run_by = {}  # playbook -> commands
    for command in leaves:
        for action, playbook in runs(command, index.playbooks):
            if playbook:
                run_by.setdefault(playbook, []).append(" ".join(command["words"] + ([action] if action else [])))
    handled = {}  # command words -> alerts naming it
    for rule in rules:
        words = handling_command(rule, command_words)
        if words:
            handled.setdefault(" ".join(words), []).append(rule["title"])

    out = [
        "<!-- Generated by `selfops docs runbook --output docs/runbook.md` from the code; do not edit it, "
        "regenerate it. tests/unit/test_docs_runbook.py fails when it differs from what the code gives. -->",
        "# Selfology runbook - the procedures as implemented",
        "",
        "The runbook's procedures (`../shared/runbook.md`) as this collection carries them out, generated from "
        "the code: the `selfops` commands (src/selfops), the playbooks and roles they run, the AWX job templates "
        "running the same playbooks (awx/vars), the alerts (roles/monitoring/templates/rules), their routes "
        "(roles/monitoring/templates/alertmanager.yml.j2) and the automatic responses "
        f"({RULEBOOK.as_posix()}). Durations are the monitoring role's defaults (production); the lab's "
        "inventory shortens them to seconds.",
        "",
        "Monthly Checklist, *Review and update runbook*: regenerate this file with "
        "`selfops docs runbook --output docs/runbook.md` and review the diff.",
        "",
        "## Contents",
        "",
        "- [Commands](#commands)",
        "- [Alerts](#alerts)",
        "- [Alertmanager routing](#alertmanager-routing)",
        "- [Automatic incident response (EDA)](#automatic-incident-response-eda)",
        "- [Playbooks](#playbooks)",
        "",
        "## Commands",
        "",
        "Options every command that runs a playbook takes, before or after the subcommand:",
        "",
    ]
    common = argparse.ArgumentParser(prog="selfops", add_help=False)
    cli.add_common(common)
    out += [f"- {_code(invocation)}: {help_text}" for invocation, help_text in _options(common, set())]
    out += ["", f"Which playbook a command runs: {PLAYBOOK_RULE}.", ""]

    for command in leaves:
        name = " ".join(command["words"])
        out += [f"### `selfops {name}`", ""]
        if command["help"]:
            out += [command["help"][0].upper() + command["help"][1:] + ("" if command["help"].endswith(".") else "."), ""]
        if command["description"] and command["description"] != command["help"]:
            out += [command["description"], ""]
        options = _options(command["parser"], common_flags)
        if options:
            out += ["Arguments and options:", ""]
            out += [f"- {_code(invocation)}" + (f": {help_text}" if help_text else "") for invocation, help_text in options]
            out.append("")
        out += ["What it runs:", ""]
        for action, playbook in runs(command, index.playbooks):
            lead = f"`{action}`: " if action else ""
            if not playbook:
                module = sys.modules.get(cli.COMMANDS[command["words"][0]].__module__)
                if hasattr(module, "rulebook_path"):
                    out.append(f"- {lead}Runs no playbook of its own: it runs ansible-rulebook with "
                               f"{_code(RULEBOOK.as_posix())}, whose rules start the incident playbooks "
                               "(see [Automatic incident response](#automatic-incident-response-eda)).")
                else:
                    out.append(f"- {lead}Runs no playbook.")
                continue
            out += _playbook_lines(index, awx, playbook, lead)
        alerts_here = handled.get(name, [])
        if alerts_here:
            out.append("- Handles the alerts: " + ", ".join(_link(title) for title in alerts_here))
        out.append("")

    out += _alert_sections(rules, am, rulebook, command_words, index)
    out += _alertmanager_sections(am)
    out += _rulebook_section(rulebook)
    out += _playbook_index(index, awx, run_by, rulebook)
    return "\n".join(out).rstrip("\n") + "\n"


def _playbook_lines(index, awx, playbook, lead=""):
    contents = index.contents(playbook)
    header = _header(index.root / "playbooks" / f"{playbook}.yml")
    lines = [f"- {lead}Playbook {_code(f'playbooks/{playbook}.yml')}" + (f": {header}" if header else "")]
    for imported in contents["imports"]:
        lines.append(f"  - imports {_code(f'playbooks/{imported}.yml')}")
    for role, entry in contents["roles"]:
        described = index.role_entry_description(role, entry)
        lines.append(f"  - role `selfology.ops.{role}`, entry point `{entry}`" + (f": {described}" if described else ""))
    if contents["dependencies"]:
        lines.append("  - role dependencies: " + ", ".join(f"`selfology.ops.{r}`" for r in contents["dependencies"]))
    if contents["task_files"]:
        lines.append("  - task files: " + ", ".join(
            _code(f) + (" (chosen at run time)" if "{{" in f else "") for f in contents["task_files"]))
    templates = awx["templates"].get(playbook, [])
    for template in sorted(templates, key=lambda t: t["name"]):
        survey = [q["variable"] for q in template.get("survey") or []]
        runs_it = awx["schedules"].get(template["name"], []) + awx["nodes"].get(template["name"], [])
        lines.append(f"  - AWX job template *{template['name']}*: {template.get('description', '')}"
                     + (f" (survey: {', '.join(_code(v) for v in survey)})" if survey else "")
                     + (f"; run by {', '.join(sorted(runs_it))}" if runs_it else ""))
    if not templates:
        reason = awx["without_template"].get(f"{playbook}.yml")
        lines.append("  - no AWX job template" + (f": {' '.join(str(reason).split())}" if reason else ""))
    return lines


def _alert_sections(rules, am, rulebook, command_words, index):
    out = ["## Alerts", "",
           "Every alerting rule, by priority. *Handled by* is the command its `command` annotation names (run by a "
           "person), and whether a rulebook rule starts a playbook for it without one; *Routed to* is where "
           "Alertmanager sends it.", "",
           "| Alert | Priority | Severity | For | Handled by |", "|---|---|---|---|---|"]
    eda = {}
    for rule in rulebook:
        eda.setdefault(rule["alert"], []).append(rule)
    for rule in rules:
        labels = rule["fired_labels"]
        words = handling_command(rule, command_words)
        handler = _code("selfops " + " ".join(words)) if words else ("page only" if rule["alert"] in PAGE_ONLY else "**none**")
        if rule["alert"] in eda and not rule["escalates"]:
            handler += " (automatic: rulebook)"
        out.append(f"| {_link(rule['title'])} | {labels.get('priority', '-')} | {labels.get('severity', '-')} | "
                   f"{rule.get('for', '0s')} | {_cell(handler)} |")
    out.append("")
    optional = {r["receiver"] for r in am["route"].get("routes") or [] if r.get("optional")}
    for rule in rules:
        labels, annotations = rule["fired_labels"], rule.get("annotations") or {}
        out += [f"### {rule['title']}", "",
                f"{labels.get('priority', '-')}, {labels.get('severity', '-')}, for {rule.get('for', '0s')}: "
                f"{_code(annotations.get('summary', ''))}", ""]
        if rule["escalates"]:
            out.append(f"- Escalation copy of {_link(rule['escalates'])}, with its labels and "
                       f"`escalation: {labels.get('escalation', '')}`")
        command = annotations.get("command")
        words = handling_command(rule, command_words)
        if words:
            playbooks = [p for _action, p in runs({"words": words, "actions": []}, index.playbooks) if p]
            out.append(f"- Handled by {_code(command)}"
                       + (f" ({', '.join(_code(f'playbooks/{p}.yml') for p in playbooks)})" if playbooks else ""))
        elif rule["alert"] in PAGE_ONLY:
            out.append(f"- Page only: {PAGE_ONLY[rule['alert']]}")
        else:
            out.append(f"- **No handler**: its command {_code(command or '')} is no selfops command")
        receivers = receivers_for(am["route"], labels)
        automatic = [r for r in eda.get(rule["alert"], []) if not rule["escalates"]]
        for eda_rule in automatic:
            out.append(f"- Started automatically by the rulebook rule *{eda_rule['name']}*: "
                       f"`playbooks/{eda_rule['playbook']}.yml` (`selfops watch`)")
        if not automatic and set(receivers) & optional:
            out.append("- Reaches the EDA webhook, where no rulebook rule starts a playbook for it")
        out.append("- Routed to: " + ", ".join(
            f"`{r}`" + (" (when `monitoring_eda_webhook_url` is set)" if r in optional else "") for r in receivers))
        for inhibition in am.get("inhibit_rules") or []:
            if _matches(inhibition.get("target_matchers"), labels):
                out.append("- Not sent while " + ", ".join(_code(m) for m in inhibition.get("source_matchers") or [])
                           + " fires with the same " + ", ".join(inhibition.get("equal") or []))
        out += [f"- Rule: group `{rule['group']}` in {_code(rule['file'])}", ""]
    return out


def _alertmanager_sections(am):
    out = ["## Alertmanager routing", "",
           f"Default receiver (an alert no route matches): `{am['route'].get('receiver')}`. Routes, in order "
           "(the first that matches takes the alert unless it says continue):", "",
           "| Matchers | Receiver | Continue | Group wait | Repeat interval |", "|---|---|---|---|---|"]
    root_route = am["route"]
    for route in root_route.get("routes") or []:
        receiver = route.get("receiver") + (" (when `monitoring_eda_webhook_url` is set)" if route.get("optional") else "")
        out.append(f"| {_cell(', '.join(_code(m) for m in route.get('matchers') or []))} | {_cell(receiver)} | "
                   f"{'yes' if route.get('continue') else 'no'} | {route.get('group_wait', root_route.get('group_wait'))} | "
                   f"{route.get('repeat_interval', root_route.get('repeat_interval'))} |")
    out += ["", "Inhibitions (the target alert is not sent while the source fires):", ""]
    for rule in am.get("inhibit_rules") or []:
        out.append(f"- {', '.join(_code(m) for m in rule.get('source_matchers') or [])} inhibits "
                   f"{', '.join(_code(m) for m in rule.get('target_matchers') or [])} with equal "
                   f"{', '.join(rule.get('equal') or [])}")
    out += ["", "Receivers:", ""]
    for receiver in sorted(am.get("receivers") or [], key=lambda r: r["name"]):
        kinds = sorted(k.removesuffix("_configs") for k in receiver if k.endswith("_configs"))
        out.append(f"- `{receiver['name']}`: {', '.join(kinds) if kinds else 'nothing (the alert is dropped)'}")
    return out + [""]


def _rulebook_section(rulebook):
    out = ["## Automatic incident response (EDA)", "",
           f"`selfops watch` runs ansible-rulebook with {_code(RULEBOOK.as_posix())}. Its rules:", "",
           "| Rule | Alert | Playbook | Extra vars |", "|---|---|---|---|"]
    for rule in rulebook:
        out.append(f"| {_cell(rule['name'])} | {rule['alert'] or '-'} | "
                   f"{_code('playbooks/' + rule['playbook'] + '.yml') if rule['playbook'] else '-'} | "
                   f"{', '.join(_code(v) for v in rule['extra_vars'])} |")
    out += ["", "Conditions:", ""]
    out += [f"- *{rule['name']}*: {_code(rule['condition'])}" for rule in rulebook]
    return out + [""]


def _playbook_index(index, awx, run_by, rulebook):
    out = ["## Playbooks", "", "Every playbook, what runs it and its AWX job template.", "",
           "| Playbook | selfops | Rulebook | AWX job template |", "|---|---|---|---|"]
    started = {}
    for rule in rulebook:
        if rule["playbook"]:
            started.setdefault(rule["playbook"], []).append(rule["alert"] or rule["name"])
    imported_by = {}
    for playbook in index.playbooks:
        for imported in index.contents(playbook)["imports"]:
            imported_by.setdefault(imported, []).append(playbook)
    for playbook in index.playbooks:
        commands_here = ", ".join(_code("selfops " + c) for c in sorted(run_by.get(playbook, [])))
        if not commands_here and playbook in imported_by:
            commands_here = "imported by " + ", ".join(_code(f"{p}.yml") for p in sorted(imported_by[playbook]))
        templates = ", ".join(f"*{t['name']}*" for t in sorted(awx["templates"].get(playbook, []), key=lambda t: t["name"]))
        if not templates:
            reason = awx["without_template"].get(f"{playbook}.yml")
            templates = "none" + (f": {' '.join(str(reason).split())}" if reason else "")
        out.append(f"| `{playbook}.yml` | {_cell(commands_here or '-')} | "
                   f"{_cell(', '.join(sorted(started.get(playbook, []))) or '-')} | {_cell(templates)} |")
    return out + [""]
