# -*- coding: utf-8 -*-
# Copyright: selfology.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace the nginx configuration only after nginx -t accepts it, then reload gracefully."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time

from ansible.module_utils.urls import open_url

from ansible_collections.selfology.ops.plugins.module_utils.errors import SelfologyError

CONFIG = 'nginx.conf'
CANDIDATE = 'nginx.conf.next'


def current(config_dir):
    try:
        with open(os.path.join(config_dir, CONFIG)) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_candidate(config_dir, content):
    os.makedirs(config_dir, exist_ok=True)
    path = os.path.join(config_dir, CANDIDATE)
    with open(path, 'w') as handle:
        handle.write(content)
    os.chmod(path, 0o644)
    return path


def nginx(container, args):
    """Runs nginx ARGS in the load balancer container; raises with nginx's own words on failure."""
    code, output = container.exec_run(['nginx'] + args)
    if code != 0:
        raise SelfologyError('nginx %s failed: %s' % (' '.join(args), output.decode('utf-8', 'replace').strip()))


def install(config_dir):
    """The candidate becomes the configuration, atomically (nginx reads one or the other)."""
    os.replace(os.path.join(config_dir, CANDIDATE), os.path.join(config_dir, CONFIG))


def apply(container, config_dir, mount_dir):
    """nginx -t on the candidate inside the container, then swap it in and reload.
    A rejected candidate leaves the running configuration as it was."""
    nginx(container, ['-t', '-q', '-c', '%s/%s' % (mount_dir, CANDIDATE)])
    install(config_dir)
    nginx(container, ['-s', 'reload'])


def wait_for_answer(url, expect, timeout):
    """Polls url until its body is expect: the reloaded workers serve the new configuration."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = open_url(url, timeout=2).read().decode().strip()
            if seen == expect:
                return
        except Exception as exc:  # a refused connection is retried until the deadline
            seen = str(exc)
        time.sleep(0.05)
    raise SelfologyError('the load balancer still answers %r at %s, not %r, after %ss' % (seen, url, expect, timeout))
