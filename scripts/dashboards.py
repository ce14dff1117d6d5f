"""Generates the Grafana dashboards the runbook names, as code (grafana-foundation-sdk builders).

    python scripts/dashboards.py           writes roles/monitoring/files/dashboards/<uid>.json
    python scripts/dashboards.py --check   exits 1 when those files differ from what it generates

The dashboards (runbook "Check Grafana Dashboards" and "Update Metrics Dashboard"):
  Selfology Overview   selfology-overview    every service, the active slot, the headline figures
  Event Bus Health     selfology-event-bus   outbox pending < 100, the stream and its consumers
  AI Router Costs      selfology-ai-costs    $10-20 a day, cost by model, the 75/15/10 model mix
  Error Rates          selfology-error-rates < 1 % expected, 5-10 % P2, > 10 % P1
  Selfology Weekly     selfology-weekly      onboarding completion > 50 %, analysis p95 < 500 ms,
                                             event throughput

Queries use the recording rules of the monitoring contract where one exists and the raw
metrics otherwise. Every expression is plain PromQL (no Grafana macros such as $__rate_interval
and no template variables), so promtool and the lab's Prometheus can parse every panel's query
as it is written here. Every panel reads the datasource variable DS_PROMETHEUS (type
prometheus), which defaults to the datasource uid `selfology-prometheus`.

Output is deterministic: sorted keys, indent 2, a trailing newline, explicit panel ids.
The schema is the SDK's Grafana 11.6 one: the SDK version is pinned (SDK_VERSION) and checked.
"""
import argparse
import difflib
import importlib.metadata
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "roles" / "monitoring" / "files" / "dashboards"

# The pip pin (pyproject.toml holds the same): plain `pip install` picks a Grafana 10.1 schema
# through version epochs, so the epoch is part of the pin.
SDK_NAME = "grafana-foundation-sdk"
SDK_VERSION = "1769699379!11.6.0"

DATASOURCE_VARIABLE = "DS_PROMETHEUS"
DATASOURCE_UID = "selfology-prometheus"
TAG = "selfology"


def _require_sdk():
    try:
        installed = importlib.metadata.version(SDK_NAME)
    except importlib.metadata.PackageNotFoundError:
        sys.exit(f"{SDK_NAME} is not installed: {sys.executable} -m pip install '{SDK_NAME}=={SDK_VERSION}'")
    if installed != SDK_VERSION:
        sys.exit(f"{SDK_NAME} {installed} is installed, the dashboards are generated with {SDK_VERSION} "
                 f"(another version writes another schema): "
                 f"{sys.executable} -m pip install '{SDK_NAME}=={SDK_VERSION}'")


_require_sdk()

# pylint: disable=wrong-import-position
from grafana_foundation_sdk.builders import bargauge, common as common_builders, dashboard  # noqa: E402
from grafana_foundation_sdk.builders import piechart, prometheus, stat, timeseries  # noqa: E402
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402
from grafana_foundation_sdk.models import common, dashboard as dashboard_model  # noqa: E402
from grafana_foundation_sdk.models.piechart import PieChartLegendValues, PieChartType  # noqa: E402
# pylint: enable=wrong-import-position


# ----------------------------------------------------------------------------------------------
# Thresholds and job names. Where the collection defines a figure (the alerts' thresholds in the
# monitoring role, the morning check's, the topology's) it is read from that role's defaults, so a
# change there changes the dashboards and `--check` says they must be regenerated. The others are
# the runbook's figures, defined here only. Dashboards are static files: a value overridden in an
# inventory does not reach them.

def _role_default(role, name, kind):
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    defaults = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if name not in defaults:
        sys.exit(f"{name} is not defined in {path.relative_to(ROOT)} (the dashboards take it from there)")
    value = defaults[name]
    if not isinstance(value, kind) or isinstance(value, bool) or (isinstance(value, str) and "{" in value):
        sys.exit(f"{name} in {path.relative_to(ROOT)} is {value!r}: the dashboards need a literal {kind}")
    return value


NUMBER = (int, float)


OUTBOX_PENDING_WARNING = _role_default("checks", "checks_outbox_pending_warning", NUMBER)    # runbook: < 100
OUTBOX_PENDING_CRITICAL = _role_default("checks", "checks_outbox_pending_critical", NUMBER)  # runbook: > 1000
OUTBOX_AGE_WARNING = _role_default("checks", "checks_outbox_age_warning", NUMBER)
OUTBOX_AGE_CRITICAL = _role_default("checks", "checks_outbox_age_critical", NUMBER)
REDIS_MEMORY_WARNING = _role_default("selfology", "selfology_redis_memory_warning", NUMBER) / 100  # > 80 %
REDIS_MEMORY_CRITICAL = _role_default("selfology", "selfology_redis_memory_critical", NUMBER) / 100

# P1 HighErrorRate (> 10 %) and P2 (5-10 %; the runbook also rolls back above 5 %).
ERROR_RATIO_P1 = _role_default("monitoring", "monitoring_high_error_rate_threshold", NUMBER)
ERROR_RATIO_P2 = _role_default("monitoring", "monitoring_error_rate_elevated_threshold", NUMBER)
# InstantAnalysisSlow, and the SLA "p95 < 500ms".
LATENCY_P95_SLA = _role_default("monitoring", "monitoring_instant_analysis_slow_threshold_seconds", NUMBER)
COST_PER_HOUR_ALERT = _role_default("selfology", "selfology_ai_cost_hourly_alert", NUMBER)
DISK_USED_ALERT = _role_default("monitoring", "monitoring_database_disk_used_threshold", NUMBER)   # > 85 %
DISK_MOUNTPOINT = _role_default("monitoring", "monitoring_database_disk_mountpoint", str)
SERVICES_JOB = _role_default("monitoring", "monitoring_services_job", str)
REDIS_JOB = _role_default("monitoring", "monitoring_redis_job", str)
NODE_JOB = _role_default("monitoring", "monitoring_node_job", str)
BLACKBOX_JOB = _role_default("monitoring", "monitoring_blackbox_job", str)

ERROR_RATIO_EXPECTED = 0.01      # "Error Rates (<1% expected)", post-deployment "Error rate < 1%"
COST_PER_DAY_LOW = 10            # "AI Router Costs ($10-20/day expected)"
COST_PER_DAY_HIGH = 20
COST_PER_WEEK_LOW = 70           # "Expected: $70-140 per week"
COST_PER_WEEK_HIGH = 140
CLAUDE_SHARE_FLAG = 0.20         # "If Claude usage > 20%: investigate why"
MODEL_MIX = {"gpt-4o": 0.75, "gpt-4o-mini": 0.15, "claude": 0.10}   # "75% GPT-4o, 15% Mini, 10% Claude"
ONBOARDING_COMPLETION_MIN = 0.5  # "User onboarding completion rate (should be >50%)"

# Colours of the threshold steps.
OK, WARN, BAD, CRIT, LOW = "green", "yellow", "orange", "red", "blue"

# ----------------------------------------------------------------------------------------------
# Queries (names from the monitoring contract, .notes/monitoring-contract.md)

STREAM = 'stream="selfology:events"'

AVAILABILITY = "selfology:availability:ratio"
ERROR_RATIO = "selfology:http_error_ratio:rate5m"
HTTP_P95 = "selfology:http_request_duration_seconds:p95_5m"
ANALYSIS_P95 = "selfology:instant_analysis_duration_seconds:p95_5m"
EVENTS_PROCESSED_RATE = "selfology:events_processed:rate5m"
AI_COST_PER_HOUR = "selfology:ai_cost_usd_per_hour:rate1h"

EVENTS_PUBLISHED_RATE = "sum(rate(selfology_events_published_total[5m]))"
OUTBOX_PENDING = "max(selfology_outbox_pending)"          # every relay reports the same table
OUTBOX_OLDEST_AGE = "max(selfology_outbox_oldest_pending_age_seconds)"
CIRCUIT_BREAKER = 'max by (dependency) (circuit_breaker_state{dependency="ai"})'


def _share(metric, window, selector=""):
    """Share of `metric`'s increase over `window`: by model, or of the series `selector` picks
    (0, not no data, when that one has no series yet)."""
    total = f"scalar(sum(increase({metric}[{window}])))"
    if selector:
        return f"(sum(increase({metric}{{{selector}}}[{window}])) or vector(0)) / {total}"
    return f"sum by (model) (increase({metric}[{window}])) / {total}"


def _errors_per_second(selector, by=""):
    """5xx per second; 0 rather than no data where requests were served without any 5xx (a status
    series exists only once a request got that status)."""
    group = f"sum by ({by}) " if by else "sum"
    errors = f'{group}(rate(http_requests_total{{{selector + "," if selector else ""}status=~"5.."}}[5m]))'
    return f"({errors} or {_requests_per_second(selector, by)} * 0)"


def _requests_per_second(selector, by=""):
    group = f"sum by ({by}) " if by else "sum"
    return f"{group}(rate(http_requests_total{{{selector}}}[5m]))" if selector else \
        f"{group}(rate(http_requests_total[5m]))"


def _error_ratio(selector, by=""):
    return f"{_errors_per_second(selector, by)} / {_requests_per_second(selector, by)}"


def _onboarding_completion(window):
    return (f"sum(increase(selfology_onboarding_completed_total[{window}]))"
            f" / sum(increase(selfology_onboarding_started_total[{window}]))")


# ----------------------------------------------------------------------------------------------
# Builders' shorthands


def _datasource():
    return dashboard_model.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")


def _query(expr, legend=None, ref="A", instant=False):
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(_datasource())
    query = query.instant() if instant else query.range()
    return query.legend_format(legend) if legend else query


def _thresholds(base, *steps):
    """Absolute thresholds: `base` colour below the first step, then (value, colour) steps."""
    return dashboard.ThresholdsConfig().mode(dashboard_model.ThresholdsMode.ABSOLUTE).steps(
        [dashboard_model.Threshold(value=None, color=base)]
        + [dashboard_model.Threshold(value=value, color=colour) for value, colour in steps])


def _mappings(options):
    return [dashboard_model.ValueMap(options={
        str(value): dashboard_model.ValueMappingResult(text=text, color=colour, index=index)
        for index, (value, (text, colour)) in enumerate(options.items())})]


UP_DOWN = _mappings({0: ("DOWN", CRIT), 1: ("UP", OK)})
BREAKER = _mappings({0: ("closed", OK), 1: ("open", CRIT), 2: ("half-open", WARN)})


class Layout:
    """Numbers the panels of one dashboard (stable ids: the order they are added in)."""

    def __init__(self, builder):
        self.builder = builder
        self.next_id = 1

    def add(self, panel, width, height):
        self.builder.with_panel(panel.id(self.next_id).span(width).height(height))
        self.next_id += 1
        return self


def _common(panel, title, description, queries, unit=None, thresholds=None, mappings=None,
            decimals=None, min_val=None, max_val=None):
    panel = panel.title(title).description(description).datasource(_datasource())
    for query in queries:
        panel = panel.with_target(query)
    if unit:
        panel = panel.unit(unit)
    if thresholds:
        panel = panel.thresholds(thresholds)
    if mappings:
        panel = panel.mappings(mappings)
    if decimals is not None:
        panel = panel.decimals(decimals)
    if min_val is not None:
        panel = panel.min(min_val)
    if max_val is not None:
        panel = panel.max(max_val)
    return panel


def _stat(title, description, queries, background=True, text_mode=None, **field):
    panel = _common(stat.Panel(), title, description, queries, **field)
    panel = (panel.reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
             .color_mode(common.BigValueColorMode.BACKGROUND if background else common.BigValueColorMode.VALUE)
             .graph_mode(common.BigValueGraphMode.NONE)
             .justify_mode(common.BigValueJustifyMode.AUTO)
             .orientation(common.VizOrientation.AUTO))
    if text_mode:
        panel = panel.text_mode(text_mode)
    return panel


def _timeseries(title, description, queries, stacked=False, threshold_lines=False, **field):
    panel = _common(timeseries.Panel(), title, description, queries, **field)
    panel = (panel.line_width(1).fill_opacity(10 if not stacked else 40).show_points(common.VisibilityMode.NEVER)
             .legend(common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
                     .placement(common.LegendPlacement.BOTTOM).show_legend(True).calcs(["lastNotNull", "max"]))
             .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                      .sort(common.SortOrder.DESCENDING)))
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    if threshold_lines:
        panel = panel.thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED))
    return panel


def _bargauge(title, description, queries, **field):
    panel = _common(bargauge.Panel(), title, description, queries, **field)
    return (panel.reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .display_mode(common.BarGaugeDisplayMode.GRADIENT)
            .orientation(common.VizOrientation.HORIZONTAL)
            .show_unfilled(True))


def _pie(title, description, queries, **field):
    panel = _common(piechart.Panel(), title, description, queries, **field)
    return (panel.pie_type(PieChartType.DONUT)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .legend(piechart.PieChartLegendOptions().display_mode(common.LegendDisplayMode.TABLE)
                    .placement(common.LegendPlacement.RIGHT).show_legend(True)
                    .values([PieChartLegendValues.VALUE, PieChartLegendValues.PERCENT])))


def _dashboard(uid, title, description, time_from, refresh="1m"):
    builder = (dashboard.Dashboard(title).uid(uid).description(description).tags([TAG])
               .readonly().timezone("browser").time(time_from, "now").refresh(refresh)
               .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
               .with_variable(dashboard.DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus")
                              .type("prometheus")
                              .current(dashboard_model.VariableOption(text=DATASOURCE_UID, value=DATASOURCE_UID)))
               .link(dashboard.DashboardLink("Selfology dashboards").type(dashboard_model.DashboardLinkType.DASHBOARDS)
                     .tags([TAG]).as_dropdown(True).keep_time(True).include_vars(True)))
    return builder, Layout(builder)


# ----------------------------------------------------------------------------------------------
# The dashboards


def overview():
    builder, layout = _dashboard(
        "selfology-overview", "Selfology Overview",
        "Every Selfology service of the active slot and the headline figures of the other dashboards "
        "(runbook: Morning Checks, Check Grafana Dashboards; Step 5: Monitor New Deployment).", "now-6h")
    layout.add(_stat("Service availability",
                     "Share of each service's active-slot targets that are up (selfology:availability:ratio). "
                     "Anything below 100 % is a target down: ServiceDown (P0).",
                     [_query(AVAILABILITY, "{{service}}", instant=True)],
                     unit="percentunit", decimals=0, min_val=0, max_val=1,
                     thresholds=_thresholds(CRIT, (0.5, BAD), (1, OK))), 24, 4)
    layout.add(_stat("Active slot",
                     "The slot and version the load balancer sends traffic to (targets labelled active=\"true\").",
                     [_query(f'max by (slot, version) (up{{job="{SERVICES_JOB}",active="true"}})',
                             "{{slot}} {{version}}", instant=True)],
                     background=False, text_mode=common.BigValueTextMode.NAME,
                     thresholds=_thresholds(CRIT, (1, OK))), 6, 4)
    layout.add(_stat("Worst service error rate",
                     f"Highest 5xx ratio of any service over 5 minutes (expected < {ERROR_RATIO_EXPECTED:.0%}).",
                     [_query(f"max({ERROR_RATIO})", "error rate", instant=True)],
                     unit="percentunit", decimals=2,
                     thresholds=_thresholds(OK, (ERROR_RATIO_EXPECTED, WARN), (ERROR_RATIO_P2, BAD),
                                            (ERROR_RATIO_P1, CRIT))), 6, 4)
    layout.add(_stat("Outbox pending",
                     f"Outbox rows waiting for the relay (should be < {OUTBOX_PENDING_WARNING}; "
                     f"EventProcessingBacklog above {OUTBOX_PENDING_CRITICAL}).",
                     [_query(OUTBOX_PENDING, "pending", instant=True)], unit="short", decimals=0,
                     thresholds=_thresholds(OK, (OUTBOX_PENDING_WARNING, WARN), (OUTBOX_PENDING_CRITICAL, CRIT))),
               6, 4)
    layout.add(_stat("AI cost per day (projected)",
                     f"Cost of the last hour times 24 (${COST_PER_DAY_LOW}-{COST_PER_DAY_HIGH} a day expected).",
                     [_query(f"sum({AI_COST_PER_HOUR}) * 24", "per day", instant=True)],
                     unit="currencyUSD", decimals=2,
                     thresholds=_thresholds(LOW, (COST_PER_DAY_LOW, OK), (COST_PER_DAY_HIGH, CRIT))), 6, 4)
    layout.add(_timeseries("Availability by service", "selfology:availability:ratio, active slot.",
                           [_query(AVAILABILITY, "{{service}}")], unit="percentunit", min_val=0, max_val=1,
                           thresholds=_thresholds(CRIT, (1, OK))), 12, 8)
    layout.add(_timeseries("Requests per second by service", "HTTP requests served by the active slot.",
                           [_query('sum by (service) (rate(http_requests_total{active="true"}[5m]))',
                                   "{{service}}")], unit="reqps"), 12, 8)
    layout.add(_timeseries("HTTP latency p95 by service",
                           f"selfology:http_request_duration_seconds:p95_5m (SLA p95 < {LATENCY_P95_SLA * 1000:.0f} ms).",
                           [_query(HTTP_P95, "{{service}}")], unit="s", threshold_lines=True,
                           thresholds=_thresholds(OK, (LATENCY_P95_SLA, CRIT))), 12, 8)
    layout.add(_timeseries("Instant analysis p95",
                           f"selfology:instant_analysis_duration_seconds:p95_5m (InstantAnalysisSlow above "
                           f"{LATENCY_P95_SLA * 1000:.0f} ms).",
                           [_query(ANALYSIS_P95, "p95")], unit="s", threshold_lines=True,
                           thresholds=_thresholds(OK, (LATENCY_P95_SLA, CRIT))), 12, 8)
    layout.add(_stat("Dependencies",
                     "PostgreSQL (postgres exporter), Redis (its exporter's scrape) and the load balancer "
                     "(blackbox probe through it).",
                     [_query("min(pg_up)", "PostgreSQL", "A", instant=True),
                      _query(f'min(up{{job="{REDIS_JOB}"}})', "Redis", "B", instant=True),
                      _query(f'min(probe_success{{job="{BLACKBOX_JOB}"}})', "Load balancer", "C", instant=True)],
                     mappings=UP_DOWN, thresholds=_thresholds(CRIT, (1, OK))), 12, 4)
    layout.add(_stat("AI circuit breaker", "circuit_breaker_state of the AI router: 0 closed, 1 open, 2 half-open.",
                     [_query(CIRCUIT_BREAKER, "{{dependency}}", instant=True)], mappings=BREAKER,
                     thresholds=_thresholds(OK, (1, CRIT), (2, WARN))), 6, 4)
    disk = f'job="{NODE_JOB}",mountpoint="{DISK_MOUNTPOINT}"'
    layout.add(_stat("Database disk used",
                     f"Used share of the filesystem holding PostgreSQL's data ({DISK_MOUNTPOINT}; DatabaseDiskSpaceLow "
                     f"above {DISK_USED_ALERT:.0%}).",
                     [_query(f"max(1 - node_filesystem_avail_bytes{{{disk}}} / node_filesystem_size_bytes{{{disk}}})",
                             "used", instant=True)],
                     unit="percentunit", decimals=1, min_val=0, max_val=1,
                     thresholds=_thresholds(OK, (DISK_USED_ALERT, CRIT))), 6, 4)
    return builder


def event_bus():
    builder, layout = _dashboard(
        "selfology-event-bus", "Event Bus Health",
        f"The outbox, the relay, the selfology:events stream and its consumers (runbook: pending events "
        f"< {OUTBOX_PENDING_WARNING}; P1 Event Processing Backlog above {OUTBOX_PENDING_CRITICAL}).", "now-6h")
    pending_steps = _thresholds(OK, (OUTBOX_PENDING_WARNING, WARN), (OUTBOX_PENDING_CRITICAL, CRIT))
    layout.add(_stat("Outbox pending",
                     f"Pending outbox rows (should be < {OUTBOX_PENDING_WARNING}).",
                     [_query(OUTBOX_PENDING, "pending", instant=True)], unit="short", decimals=0,
                     thresholds=pending_steps), 6, 4)
    layout.add(_stat("Oldest pending event", "Age of the oldest pending outbox row.",
                     [_query(OUTBOX_OLDEST_AGE, "age", instant=True)], unit="s",
                     thresholds=_thresholds(OK, (OUTBOX_AGE_WARNING, WARN), (OUTBOX_AGE_CRITICAL, CRIT))), 6, 4)
    layout.add(_stat("Stream length", "XLEN selfology:events (runbook: check consumers when > 10000).",
                     [_query(f"max(redis_stream_length{{{STREAM}}})", "length", instant=True)], unit="short",
                     decimals=0, thresholds=_thresholds(OK, (10000, WARN))), 6, 4)
    layout.add(_stat("Redis memory used", f"used_memory / maxmemory (runbook: act above {REDIS_MEMORY_WARNING:.0%}).",
                     [_query("max(redis_memory_used_bytes / redis_memory_max_bytes)", "used", instant=True)],
                     unit="percentunit", decimals=1,
                     thresholds=_thresholds(OK, (REDIS_MEMORY_WARNING, WARN), (REDIS_MEMORY_CRITICAL, CRIT))), 6, 4)
    layout.add(_timeseries("Outbox pending over time",
                           f"Pending outbox rows; dashed lines at {OUTBOX_PENDING_WARNING} and {OUTBOX_PENDING_CRITICAL}.",
                           [_query(OUTBOX_PENDING, "pending")], unit="short", threshold_lines=True,
                           thresholds=pending_steps), 12, 8)
    layout.add(_timeseries("Events published and processed per second",
                           "Published by the relays (outbox to stream) and processed by the workers, all slots.",
                           [_query(EVENTS_PUBLISHED_RATE, "published", "A"),
                            _query(EVENTS_PROCESSED_RATE, "processed", "B")], unit="ops"), 12, 8)
    layout.add(_timeseries("Consumer group pending",
                           "Entries delivered to a group and not acknowledged yet (XINFO GROUPS pending).",
                           [_query(f"redis_stream_group_messages_pending{{{STREAM}}}", "{{group}}")],
                           unit="short"), 12, 8)
    layout.add(_timeseries("Pending by consumer", "Entries each consumer holds unacknowledged.",
                           [_query(f"redis_stream_group_consumer_messages_pending{{{STREAM}}}",
                                   "{{group}} / {{consumer}}")], unit="short"), 12, 8)
    layout.add(_timeseries("Consumer idle time", "Seconds since each consumer last read; a dead consumer keeps "
                                                 "growing.",
                           [_query(f"redis_stream_group_consumer_idle_seconds{{{STREAM}}}",
                                   "{{group}} / {{consumer}}")], unit="s"), 12, 8)
    layout.add(_timeseries("Events processed by type", "Worker throughput per event type, all slots.",
                           [_query("sum by (event_type) (rate(selfology_events_processed_total[5m]))",
                                   "{{event_type}}")], unit="ops", stacked=True), 12, 8)
    return builder


def ai_costs():
    builder, layout = _dashboard(
        "selfology-ai-costs", "AI Router Costs",
        f"AI spend and the router's model mix (runbook: ${COST_PER_DAY_LOW}-{COST_PER_DAY_HIGH} a day, "
        f"${COST_PER_WEEK_LOW}-{COST_PER_WEEK_HIGH} a week, HighAICost above ${COST_PER_HOUR_ALERT}/hour; "
        "Common Issue 3: AI Costs Too High).", "now-24h")
    day_band = _thresholds(LOW, (COST_PER_DAY_LOW, OK), (COST_PER_DAY_HIGH, CRIT))
    mix = ", ".join(f"{model} {share:.0%}" for model, share in MODEL_MIX.items())
    layout.add(_stat("Cost, last 24 h", f"sum(increase(ai_cost_usd_total[24h])): ${COST_PER_DAY_LOW}-"
                                        f"{COST_PER_DAY_HIGH} a day expected (blue below, red above).",
                     [_query("sum(increase(ai_cost_usd_total[24h]))", "24 h", instant=True)],
                     unit="currencyUSD", decimals=2, thresholds=day_band), 6, 4)
    layout.add(_stat("Cost per day (projected)", "The last hour's rate times 24.",
                     [_query(f"sum({AI_COST_PER_HOUR}) * 24", "per day", instant=True)],
                     unit="currencyUSD", decimals=2, thresholds=day_band), 6, 4)
    layout.add(_stat("Cost per hour", f"Last hour's spend (HighAICost above ${COST_PER_HOUR_ALERT}/hour).",
                     [_query(f"sum({AI_COST_PER_HOUR})", "per hour", instant=True)],
                     unit="currencyUSD", decimals=2, thresholds=_thresholds(OK, (COST_PER_HOUR_ALERT, CRIT))), 6, 4)
    layout.add(_stat("Cost, last 7 days", f"Weekly Review AI Costs: ${COST_PER_WEEK_LOW}-{COST_PER_WEEK_HIGH} "
                                          "a week expected.",
                     [_query("sum(increase(ai_cost_usd_total[7d]))", "7 days", instant=True)],
                     unit="currencyUSD", decimals=2,
                     thresholds=_thresholds(LOW, (COST_PER_WEEK_LOW, OK), (COST_PER_WEEK_HIGH, CRIT))), 6, 4)
    layout.add(_timeseries("Cost per hour by model", f"selfology:ai_cost_usd_per_hour:rate1h, stacked; dashed "
                                                     f"line at the ${COST_PER_HOUR_ALERT}/hour alert.",
                           [_query(AI_COST_PER_HOUR, "{{model}}")], unit="currencyUSD", stacked=True,
                           threshold_lines=True, thresholds=_thresholds(OK, (COST_PER_HOUR_ALERT, CRIT))), 16, 8)
    layout.add(_bargauge("Cost by model, last 24 h", "sum by (model) (increase(ai_cost_usd_total[24h])).",
                         [_query("sum by (model) (increase(ai_cost_usd_total[24h]))", "{{model}}", instant=True)],
                         unit="currencyUSD", decimals=2, min_val=0,
                         thresholds=_thresholds(OK, (COST_PER_DAY_HIGH, CRIT))), 8, 8)
    layout.add(_pie("Model mix, last 24 h", f"Share of AI requests per model (expected {mix}).",
                    [_query(_share("ai_requests_total", "24h"), "{{model}}", instant=True)],
                    unit="percentunit", decimals=1), 8, 8)
    layout.add(_bargauge("Cost share by model, last 24 h", "Each model's share of the day's AI spend.",
                         [_query(_share("ai_cost_usd_total", "24h"), "{{model}}", instant=True)],
                         unit="percentunit", decimals=1, min_val=0, max_val=1, thresholds=_thresholds(OK)), 8, 8)
    layout.add(_stat("Claude share, last 24 h", f"Share of requests routed to Claude (expected "
                                                f"{MODEL_MIX['claude']:.0%}; investigate above "
                                                f"{CLAUDE_SHARE_FLAG:.0%}).",
                     [_query(_share("ai_requests_total", "24h", 'model="claude"'), "claude", instant=True)],
                     unit="percentunit", decimals=1, thresholds=_thresholds(OK, (CLAUDE_SHARE_FLAG, CRIT))), 8, 8)
    layout.add(_timeseries("AI requests per second by model", "ai_requests_total rate per model.",
                           [_query("sum by (model) (rate(ai_requests_total[5m]))", "{{model}}")],
                           unit="reqps", stacked=True), 16, 8)
    layout.add(_stat("AI circuit breaker", "circuit_breaker_state{dependency=\"ai\"}: 0 closed, 1 open, "
                                           "2 half-open.",
                     [_query(CIRCUIT_BREAKER, "{{dependency}}", instant=True)], mappings=BREAKER,
                     thresholds=_thresholds(OK, (1, CRIT), (2, WARN))), 8, 8)
    return builder


def error_rates():
    builder, layout = _dashboard(
        "selfology-error-rates", "Error Rates",
        f"HTTP 5xx ratios (runbook: < {ERROR_RATIO_EXPECTED:.0%} expected; P2 {ERROR_RATIO_P2:.0%}-"
        f"{ERROR_RATIO_P1:.0%}; P1 HighErrorRate above {ERROR_RATIO_P1:.0%}; rollback above {ERROR_RATIO_P2:.0%}).",
        "now-6h")
    steps = _thresholds(OK, (ERROR_RATIO_EXPECTED, WARN), (ERROR_RATIO_P2, BAD), (ERROR_RATIO_P1, CRIT))
    layout.add(_stat("Error rate, active slot",
                     f"5xx share of all requests the active slot served in 5 minutes (expected "
                     f"< {ERROR_RATIO_EXPECTED:.0%}).",
                     [_query(_error_ratio('active="true"'), "error rate", instant=True)],
                     unit="percentunit", decimals=2, thresholds=steps), 8, 5)
    layout.add(_stat("Error rate by service", "selfology:http_error_ratio:rate5m.",
                     [_query(ERROR_RATIO, "{{service}}", instant=True)],
                     unit="percentunit", decimals=2, thresholds=steps), 16, 5)
    layout.add(_timeseries("Error ratio by service", f"selfology:http_error_ratio:rate5m; dashed lines at "
                                                     f"{ERROR_RATIO_EXPECTED:.0%}, {ERROR_RATIO_P2:.0%} and "
                                                     f"{ERROR_RATIO_P1:.0%}.",
                           [_query(ERROR_RATIO, "{{service}}")], unit="percentunit", threshold_lines=True,
                           min_val=0, thresholds=steps), 12, 8)
    layout.add(_timeseries("Error ratio by slot",
                           "5xx share per slot, both slots: compares the new slot with the old one after a switch "
                           "(Step 5: Monitor New Deployment).",
                           [_query(_error_ratio("", by="slot"), "{{slot}}")],
                           unit="percentunit", threshold_lines=True, min_val=0, thresholds=steps), 12, 8)
    layout.add(_timeseries("5xx per second by service and endpoint",
                           "P1 High Error Rate, step 1: identify the failing endpoint.",
                           [_query(_errors_per_second("", by="service, endpoint"),
                                   "{{service}} {{endpoint}}")], unit="reqps"), 12, 8)
    layout.add(_timeseries("Requests per second by status", "All requests of the active slot by status code.",
                           [_query('sum by (status) (rate(http_requests_total{active="true"}[5m]))',
                                   "{{status}}")], unit="reqps", stacked=True), 12, 8)
    layout.add(_stat("AI circuit breaker", "P1 High Error Rate, step 3: the AI router's circuit breaker "
                                           "(0 closed, 1 open, 2 half-open).",
                     [_query(CIRCUIT_BREAKER, "{{dependency}}", instant=True)], mappings=BREAKER,
                     thresholds=_thresholds(OK, (1, CRIT), (2, WARN))), 24, 4)
    return builder


def weekly():
    builder, layout = _dashboard(
        "selfology-weekly", "Selfology Weekly",
        f"Weekly Maintenance, Update Metrics Dashboard: onboarding completion (> {ONBOARDING_COMPLETION_MIN:.0%}), "
        f"analysis latency (p95 < {LATENCY_P95_SLA * 1000:.0f} ms), event processing throughput.",
        "now-7d", refresh="5m")
    completion = _thresholds(CRIT, (ONBOARDING_COMPLETION_MIN, OK))
    latency = _thresholds(OK, (LATENCY_P95_SLA, CRIT))
    layout.add(_stat("Onboarding completion, 7 days",
                     f"Completed onboardings / started ones over the week (should be > "
                     f"{ONBOARDING_COMPLETION_MIN:.0%}).",
                     [_query(_onboarding_completion("7d"), "completion", instant=True)],
                     unit="percentunit", decimals=1, thresholds=completion), 6, 5)
    layout.add(_stat("Onboardings, 7 days", "Started and completed onboardings over the week.",
                     [_query("sum(increase(selfology_onboarding_started_total[7d]))", "started", "A", instant=True),
                      _query("sum(increase(selfology_onboarding_completed_total[7d]))", "completed", "B",
                             instant=True)],
                     background=False, unit="short", decimals=0, thresholds=_thresholds(OK)), 6, 5)
    layout.add(_stat("Instant analysis p95, 7 days",
                     f"p95 of every instant analysis of the week, all slots (should be < "
                     f"{LATENCY_P95_SLA * 1000:.0f} ms).",
                     [_query("histogram_quantile(0.95, sum by (le) "
                             "(increase(instant_analysis_duration_seconds_bucket[7d])))", "p95", instant=True)],
                     unit="s", decimals=3, thresholds=latency), 6, 5)
    layout.add(_stat("Events processed, 7 days", "Events the workers applied over the week, all slots.",
                     [_query("sum(increase(selfology_events_processed_total[7d]))", "processed", instant=True)],
                     background=False, unit="short", decimals=0, thresholds=_thresholds(OK)), 6, 5)
    layout.add(_timeseries("Onboarding completion, daily", "Completed / started over each trailing day.",
                           [_query(_onboarding_completion("1d"), "completion")], unit="percentunit",
                           min_val=0, threshold_lines=True, thresholds=completion), 12, 8)
    layout.add(_timeseries("Instant analysis p95", "selfology:instant_analysis_duration_seconds:p95_5m, active slot.",
                           [_query(ANALYSIS_P95, "p95")], unit="s", threshold_lines=True, thresholds=latency), 12, 8)
    layout.add(_timeseries("Event throughput", "Events published by the relays and processed by the workers per "
                                               "second.",
                           [_query(EVENTS_PUBLISHED_RATE, "published", "A"),
                            _query(EVENTS_PROCESSED_RATE, "processed", "B")], unit="ops"), 12, 8)
    layout.add(_timeseries("Availability by service, 7 days",
                           "Trailing 7-day average of selfology:availability:ratio (the monthly SLA's figure).",
                           [_query(f"avg_over_time({AVAILABILITY}[7d])", "{{service}}")],
                           unit="percentunit", decimals=3, max_val=1), 12, 8)
    return builder


DASHBOARDS = (overview, event_bus, ai_costs, error_rates, weekly)


# ----------------------------------------------------------------------------------------------


def render(builder):
    """The dashboard's JSON text: sorted keys, indent 2, a trailing newline."""
    return json.dumps(builder.build(), cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def generate():
    """{file name: JSON text} of every dashboard, named by uid."""
    files = {}
    for make in DASHBOARDS:
        builder = make()
        files[f"{builder.build().uid}.json"] = render(builder)
    return files


def check(out_dir, files):
    """Names of the differences between `out_dir` and the generated files (empty: up to date)."""
    problems = []
    on_disk = {path.name for path in out_dir.glob("*.json")} if out_dir.is_dir() else set()
    for name, text in sorted(files.items()):
        path = out_dir / name
        if not path.exists():
            problems.append(f"{path.relative_to(ROOT)}: missing")
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "committed", "generated",
                                        lineterm="", n=1)
            problems.append(f"{path.relative_to(ROOT)}: differs\n" + "\n".join(list(diff)[:40]))
    for name in sorted(on_disk - set(files)):
        problems.append(f"{(out_dir / name).relative_to(ROOT)}: not generated by this script (stale)")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the files in the dashboards folder differ from what would be generated")
    args = parser.parse_args(argv)
    files = generate()
    if args.check:
        problems = check(OUT_DIR, files)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("regenerate them: python scripts/dashboards.py", file=sys.stderr)
            return 1
        print(f"{len(files)} dashboards up to date in {OUT_DIR.relative_to(ROOT)}")
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in sorted({path.name for path in OUT_DIR.glob("*.json")} - set(files)):
        (OUT_DIR / name).unlink()
    for name, text in sorted(files.items()):
        (OUT_DIR / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} dashboards to {OUT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
