"""Importing the SSH gateway prints no warning of asyncssh's about cryptography's DSA classes
(gateway/ssh/asyncssh_warnings.py), which would be ten lines on every ``airlock up``."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_ssh_gateway_prints_no_dsa_warning() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import gateway.ssh"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "DSA is deprecated" not in done.stderr, done.stderr
