"""Where the collection's playbooks and inventories live, and its shared validation."""
import importlib
import os
import sys
from pathlib import Path

import yaml


def root():
    """The collection checkout: $SELFOPS_HOME, else the checkout this package was installed from."""
    if os.environ.get("SELFOPS_HOME"):
        return Path(os.environ["SELFOPS_HOME"]).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "galaxy.yml").exists():
        return checkout
    sys.exit("selfops: cannot find the selfology.ops collection; set SELFOPS_HOME to its checkout")


def playbook(name):
    return root() / "playbooks" / f"{name}.yml"


def default_inventory():
    return root() / "inventory" / "lab"


def module_utils(name="slots"):
    """One of the collection's module_utils (slots by default), so the CLI validates input and maps
    statuses exactly as the modules do."""
    collections = str(root() / ".collections")
    if collections not in sys.path:
        sys.path.insert(0, collections)
    return importlib.import_module(f"ansible_collections.selfology.ops.plugins.module_utils.{name}")


def lab_faults():
    """The faults a lab image can carry: the lab role's argument spec is their one list."""
    spec = yaml.safe_load((root() / "roles" / "lab" / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]["lab_fault"]["choices"]
