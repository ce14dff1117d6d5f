"""The queries of the generated Grafana dashboards, read from their JSON (no SDK needed).

Used by the unit test (every query parses with promtool) and by the integration test that sends
every panel's query to the lab's Prometheus.
"""
import json
from pathlib import Path

DASHBOARDS_DIR = Path(__file__).resolve().parents[1] / "roles" / "monitoring" / "files" / "dashboards"


def load_dashboards(path=DASHBOARDS_DIR):
    """[(file path, dashboard dict)] of every *.json in `path`, sorted by file name."""
    return [(file, json.loads(file.read_text(encoding="utf-8"))) for file in sorted(Path(path).glob("*.json"))]


def iter_panels(dashboard):
    """Every panel of a dashboard that is not a row, including the panels of collapsed rows."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from (inner for inner in panel.get("panels", []) if inner.get("type") != "row")
        else:
            yield panel


def panel_queries(path=DASHBOARDS_DIR):
    """[(dashboard title, panel title, expr)] of every Prometheus query of every panel, in order.

    A target without an expr (or an empty one) is returned with expr "" so callers can reject it.
    """
    queries = []
    for unused_path, dashboard in load_dashboards(path):
        for panel in iter_panels(dashboard):
            for target in panel.get("targets", []):
                queries.append((dashboard["title"], panel["title"], (target.get("expr") or "").strip()))
    return queries
