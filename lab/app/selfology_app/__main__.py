"""Entry point: `python3 -m selfology_app` runs the service named by SELFOLOGY_SERVICE."""
import sys

from .config import Settings


def main():
    settings = Settings.from_env()
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
