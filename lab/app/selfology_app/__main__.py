"""Entry point: `python3 -m selfology_app [name]` runs the service or stand-in named by the
argument, or else by SELFOLOGY_SERVICE."""
import os
import sys

from .config import Settings
from .stubs import STUBS


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SELFOLOGY_SERVICE", "")
    if name in STUBS:  # the stand-ins need no database, Redis or fault
        from .stubs import run
        run(name)
        return
    settings = Settings.from_env(name)
    if settings.fault == "crash":
        print(f"{settings.service} {settings.version}: fault injected, crashing on start", flush=True)
        sys.exit(3)
    if settings.service in ("question-selection", "session-management"):
        from .api import run
    elif settings.service == "analysis-worker":
        from .worker import run
    elif settings.service == "outbox-relay":
        from .relay import run
    else:
        sys.exit(f"unknown SELFOLOGY_SERVICE {settings.service!r}")
    run(settings)


main()
