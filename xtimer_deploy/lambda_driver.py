"""Runs one packaged Lambda handler the way the Lambda Python runtime does; standard library only.

Not imported by anything: `xtimer_deploy.lambda_sandbox` copies this file out of the checkout and
runs it as `python3.11 -I -S lambda_driver.py MODULE.ATTRIBUTE` with the unpacked deployment zip as
LAMBDA_TASK_ROOT, so the handler finds nothing but the zip and the standard library (and, when
asked, a stand-in for the runtime's own boto3 in LAMBDA_RUNTIME_DIR). Like the runtime's
bootstrap, it imports the handler's module once (the init phase), then calls the handler once per
invocation with the event and a context object, in one warm process.

Protocol on its original stdout, one JSON object per line (the handlers' own output and logs go
to stderr, as Lambda sends both to CloudWatch):
    {"init": {...}}                           after the import: timings and what the process sees
    {"result": ..., "seconds": s, ...}        per invocation read from stdin ({"event": ...}), with
                                              the process's CPU time so far (cpu_seconds)
    {"error": "...", "traceback": "..."}      a failed import or invocation
"""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid

STARTED = time.perf_counter()

# Modules a deployed function must not find: the dev tools and the checkout's other packages.
MUST_BE_ABSENT = ("pytest", "moto", "chalice.cli", "xtimer_local", "xtimer_deploy", "xtimer_admin", "tests")


class LambdaContext:
    """The attributes and method of the runtime's context object that a handler may use."""

    def __init__(self, deadline: float) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.invoked_function_arn = (f"arn:aws:lambda:{os.environ.get('AWS_REGION', '')}:123456789012:"
                                     f"function:{self.function_name}")
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _probe(task_root: str, module: object) -> dict[str, object]:
    """What the function's process sees: where its code came from, what it cannot import or write."""
    absent = []
    for name in MUST_BE_ABSENT:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    chalicelib = sys.modules.get("chalicelib")
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "uid": os.getuid(),
        "sys_path": sys.path,
        "handler_file": getattr(module, "__file__", None),
        "chalicelib_file": getattr(chalicelib, "__file__", None),
        "absent": absent,
        "task_root_writable": _writable(task_root),
        "tmp_writable": _writable(os.environ.get("TMPDIR", "/tmp")),
    }


def _writable(directory: str) -> bool:
    path = os.path.join(directory, f".write-probe-{os.getpid()}")
    try:
        with open(path, "w") as handle:
            handle.write("x")
    except OSError:
        return False
    os.unlink(path)
    return True


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # print() and log handlers bound to stdout now write to stderr
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "")
    # The runtime's order: the function's code first, then the runtime's own packages (boto3).
    sys.path[:0] = [task_root] + ([runtime_dir] if runtime_dir and os.path.isdir(runtime_dir) else [])
    module_name, _, attribute = sys.argv[1].rpartition(".")
    timeout = float(os.environ.get("XTIMER_SANDBOX_TIMEOUT", "900"))

    def send(message: dict[str, object]) -> None:
        protocol.write(json.dumps(message, default=str) + "\n")

    before_import = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, attribute)
    except BaseException as exc:  # the init phase failed: Lambda reports Runtime.ImportModuleError
        send({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        return
    imported = time.perf_counter()
    send({"init": {"interpreter_seconds": before_import - STARTED, "import_seconds": imported - before_import,
                   "cpu_seconds": time.process_time(), **_probe(task_root, module)}})

    for line in sys.stdin:
        if not line.strip():
            continue
        event = json.loads(line)["event"]
        began = time.perf_counter()
        try:
            result = handler(event, LambdaContext(time.monotonic() + timeout))
        except BaseException as exc:  # Lambda reports the error and keeps the container
            send({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                  "seconds": time.perf_counter() - began})
            continue
        send({"result": result, "seconds": time.perf_counter() - began, "cpu_seconds": time.process_time()})


if __name__ == "__main__":
    main()
