"""Stand-in for ansible-test's get-pip bootstrap script, whose host this machine cannot reach.

ansible-test runs the script in a new virtual environment with pip's install arguments.
ensurepip gives that environment the pip bundled with Python; that pip then installs what
ansible-test asked for from the package index, which is reachable.
"""
import subprocess
import sys

# In a child process: ensurepip sets PIP_CONFIG_FILE=/dev/null in its own environment, which
# would hide the machine's pip configuration (its CA bundle among it) from the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
# --no-setuptools and --no-wheel are get-pip's own flags ("do not install these"): pip has no such options.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
