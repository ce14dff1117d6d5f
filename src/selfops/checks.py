"""Daily checks and maintenance commands (selfops check ..., selfops maintenance ...)."""

COMMANDS = {}


def add_parsers(sub, common):
    """Adds this module's subcommands to the selfops parser."""
