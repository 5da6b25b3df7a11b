"""Run a script in a fresh interpreter on stock moto or on the local stack's patched moto, for the
stock-versus-patched tests: each patch is process-wide, so each mode needs a process of its own."""
from __future__ import annotations

import json
import subprocess
import sys


def run_script(script: str, mode: str, timeout: float = 120) -> dict:
    """`script` runs with `mode` ("stock" or "patched") as its argument and prints a JSON object
    last; that object is returned."""
    done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
