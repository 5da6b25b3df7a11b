"""The packaged functions, run from `deployment.zip` the way Lambda runs them (issue 18).

The suite imports app.py from the checkout with the dev dependencies installed; AWS runs the
zip. `Sandbox` unpacks the zip into a read-only task root outside the checkout, with a writable
tmp directory beside it, and `Sandbox.start(config)` runs one function's handler in a fresh
`python3.11 -I -S` (xtimer_deploy/lambda_driver.py): only the zip and the standard library on
sys.path, the environment the template gives the function plus what Lambda adds, and, when this
process is root, as the unprivileged user `nobody` (Lambda runs functions as a non-root user
too; root would ignore the read-only permissions). Used by tests/e2e/test_lambda_artifact.py and
bench/coldstart.py.
"""
from __future__ import annotations

import compileall
import json
import os
import queue
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

DRIVER = Path(__file__).with_name("lambda_driver.py")
NOBODY = 65534
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_SESSION_TOKEN": "testing"}
"""Lambda gives each function its role's temporary credentials; moto accepts any."""


class SandboxError(RuntimeError):
    """The function could not be started or did not answer; the message has its stderr."""


@dataclass(frozen=True)
class FunctionConfig:
    """One AWS::Serverless::Function of the packaged template."""

    logical_id: str
    name: str
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int


def function_configs(template: Mapping[str, Any]) -> dict[str, FunctionConfig]:
    """Every function of a SAM template, by logical id, with its own and the Globals' settings."""
    defaults = template.get("Globals", {}).get("Function", {})
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **resource["Properties"]}
        variables = {**defaults.get("Environment", {}).get("Variables", {}),
                     **resource["Properties"].get("Environment", {}).get("Variables", {})}
        found[logical_id] = FunctionConfig(
            logical_id=logical_id, name=props["FunctionName"], handler=props["Handler"],
            environment={k: str(v) for k, v in variables.items()},
            timeout=int(props.get("Timeout", 3)), memory=int(props.get("MemorySize", 128)))
    return found


def lambda_environment(config: FunctionConfig, *, region: str, task_root: Path, tmp: Path,
                       runtime_dir: Path | None = None) -> dict[str, str]:
    """What the Lambda python3.11 runtime puts in a function's environment, and the template's variables."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]sandbox",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir or task_root.parent / "no-runtime-packages"),
        "_HANDLER": config.handler,
        "HOME": str(tmp),
        "TMPDIR": str(tmp),
        "XTIMER_SANDBOX_TIMEOUT": str(config.timeout),
        **FAKE_CREDENTIALS,
    }
    env.update(config.environment)
    return env


def load_event(path: Path, **values: object) -> dict[str, Any]:
    """A stored AWS event (JSON) with its ${NAME} placeholders filled in from `values`, in every
    string, JSON strings inside it included (`values` must need no JSON escaping there)."""
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for key, replacement in values.items():
                value = value.replace("${" + key + "}", str(replacement))
            return value
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    filled = fill(json.loads(path.read_text()))
    missing = sorted(set(re.findall(r"\$\{[A-Z_]+\}", json.dumps(filled))))
    if missing:
        raise ValueError(f"{path.name}: give a value for {', '.join(missing)}")
    return filled


def _child_user() -> dict[str, Any]:
    """Popen arguments that run the function as `nobody` when this process is root."""
    if os.geteuid() != 0:
        return {}
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []}


@lru_cache(maxsize=None)
def interpreter() -> str:
    """A CPython 3.11 that the function's user can run (the venv's base one may sit in /root).

    XTIMER_LAMBDA_PYTHON names one explicitly; otherwise the first that works of this venv's base
    interpreter, `python3.11` on PATH and /usr/bin/python3.11.
    """
    candidates = [os.environ.get("XTIMER_LAMBDA_PYTHON", ""), getattr(sys, "_base_executable", ""),
                  shutil.which("python3.11") or "", "/usr/bin/python3.11"]
    tried = []
    for candidate in filter(None, dict.fromkeys(candidates)):
        try:
            done = subprocess.run([candidate, "-I", "-S", "-c", "import sys; print(sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"},
                                  cwd="/", **_child_user())
        except (OSError, subprocess.SubprocessError) as exc:
            tried.append(f"{candidate}: {exc}")
            continue
        if done.returncode == 0 and done.stdout.strip() == "(3, 11)":
            return candidate
        tried.append(f"{candidate}: {(done.stdout + done.stderr).strip()[:200]}")
    raise SandboxError("no Python 3.11 the sandboxed function can run (Lambda's runtime is python3.11); set "
                       "XTIMER_LAMBDA_PYTHON to one. Tried:\n  " + "\n  ".join(tried))


def _sandbox_parent() -> str | None:
    """Where to unpack: XTIMER_SANDBOX_DIR, else /dev/shm (a tmpfs: the 3,000 files of the zip
    unpack there in 0.5 s, against 5 s or more on this machine's disk) unless it is missing or
    mounted noexec (the zip's compiled extensions must load), else the usual temp directory."""
    chosen = os.environ.get("XTIMER_SANDBOX_DIR")
    if chosen:
        return chosen
    shm = "/dev/shm"
    try:
        usable = os.access(shm, os.W_OK | os.X_OK) and not os.statvfs(shm).f_flag & os.ST_NOEXEC
    except OSError:
        usable = False
    return shm if usable else None


def make_read_only(root: Path) -> None:
    """Files 0444, folders 0555: what a function's user may not change (Lambda's code is read-only)."""
    for directory, dirs, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)
        os.chmod(directory, 0o555)


def make_writable(root: Path) -> None:
    """Undo make_read_only, so that the tree can be deleted."""
    for directory, dirs, files in os.walk(root):
        os.chmod(directory, stat.S_IRWXU)


@dataclass
class Invocation:
    result: Any
    seconds: float
    cpu_seconds: float  # the function's process so far, init included


class LambdaFunction:
    """One warm function process: `invoke(event)` as many times as needed, then `stop()`."""

    def __init__(self, config: FunctionConfig, process: subprocess.Popen[str], log_path: Path) -> None:
        self.config = config
        self._process = process
        self._log_path = log_path
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name=f"lambda:{config.logical_id}").start()
        self.init: dict[str, Any] = {}
        self.started_seconds = 0.0  # from the spawn to the end of the init phase

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def log(self) -> str:
        """What the function wrote to stdout and stderr (its CloudWatch log)."""
        return self._log_path.read_text(errors="replace")

    def _message(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise SandboxError(f"{self.config.logical_id} did not answer within {timeout:.0f} s; its log:\n"
                               f"{self.log[-4000:]}") from None
        if line is None:
            code = self._process.wait(timeout=10)
            raise SandboxError(f"{self.config.logical_id} exited (code {code}); its log:\n{self.log[-4000:]}")
        return json.loads(line)

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        message = self._message(timeout)
        if "error" in message:
            raise SandboxError(f"{self.config.logical_id}: importing {self.config.handler} failed: "
                               f"{message['error']}\n{message['traceback']}")
        self.init = message["init"]
        return self.init

    def invoke(self, event: Mapping[str, Any]) -> Invocation:
        """The handler's reply to `event`; raises SandboxError with the traceback if it raised."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps({"event": event}) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError:
            raise SandboxError(f"{self.config.logical_id} is not running any more; its log:\n"
                               f"{self.log[-4000:]}") from None
        message = self._message(self.config.timeout + 30)
        if "error" in message:
            raise SandboxError(f"{self.config.logical_id} raised {message['error']}\n{message['traceback']}")
        return Invocation(message["result"], message["seconds"], message["cpu_seconds"])

    def stop(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@dataclass
class Sandbox:
    """An unpacked deployment zip: a read-only task root and a writable tmp, outside the checkout."""

    directory: Path
    task_root: Path
    tmp: Path
    runtime_dir: Path | None = None
    functions: list[LambdaFunction] = field(default_factory=list)

    @classmethod
    def unpack(cls, deployment_zip: Path, *, leave_out: Iterable[str] = (), runtime_dir: Path | None = None,
               precompile: bool = False) -> Sandbox:
        """Unpack `deployment_zip`, without the entries under any of `leave_out` (paths or
        top-level folders: "botocore", "chalicelib/api/console/console.js"). `runtime_dir` stands
        in for the runtime's own packages (LAMBDA_RUNTIME_DIR, after the task root on sys.path).
        `precompile` writes the .pyc files a zip could carry (Chalice's has none, and a read-only
        task root means every cold start compiles what it imports)."""
        directory = Path(tempfile.mkdtemp(prefix="xtimer-lambda-", dir=_sandbox_parent()))
        directory.chmod(0o755)  # the function's user must reach the task root
        task_root, tmp = directory / "task", directory / "tmp"
        skipped = tuple(leave_out)
        with zipfile.ZipFile(deployment_zip) as archive:
            members = [m for m in archive.namelist()
                       if not any(m == s or m.startswith(s.rstrip("/") + "/") for s in skipped)]
            archive.extractall(task_root, members)
        if precompile:
            compileall.compile_dir(str(task_root), quiet=2)
        make_read_only(task_root)
        tmp.mkdir(mode=0o700)
        if os.geteuid() == 0:
            os.chown(tmp, NOBODY, NOBODY)
        return cls(directory, task_root, tmp, runtime_dir)

    def start(self, config: FunctionConfig, *, region: str = "us-east-1",
              extra_env: Mapping[str, str] | None = None, python_flags: Iterable[str] = ()) -> LambdaFunction:
        """Start `config`'s function and wait for its init phase (the handler's import); raises
        SandboxError if that fails. `extra_env` goes on top of Lambda's environment (the moto
        endpoint, a test's own switches); `python_flags` go to the interpreter (-X importtime)."""
        driver = self.directory / "lambda_driver.py"
        if not driver.exists():
            shutil.copyfile(DRIVER, driver)
            driver.chmod(0o444)
        env = lambda_environment(config, region=region, task_root=self.task_root, tmp=self.tmp,
                                 runtime_dir=self.runtime_dir)
        env.update(extra_env or {})
        log_path = self.directory / f"{config.logical_id}.log"
        spawned = time.perf_counter()
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [interpreter(), "-I", "-S", *python_flags, str(driver), config.handler], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=self.task_root, **_child_user())
        function = LambdaFunction(config, process, log_path)
        self.functions.append(function)
        function.wait_ready()
        function.started_seconds = time.perf_counter() - spawned
        return function

    def close(self) -> None:
        for function in self.functions:
            function.stop()
        make_writable(self.directory)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
