"""Running the tools of this virtualenv: the Chalice CLI (in the stage's environment) and cfn-lint."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from xtimer_deploy.stage import Stage

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class ToolError(RuntimeError):
    """A tool is missing or failed."""


def tool(name: str) -> str:
    """A console script of this virtualenv (chalice, cfn-lint), else the one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise ToolError(f"{name} is not installed: run `make venv` (it is in requirements-dev.txt)")
    return found


def chalice_environment(stage: Stage, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment Chalice must run in for `stage`: app.py reads the fire queue's name when
    it is imported (the worker's SQS trigger), so the stage's variables must be set."""
    env = dict(os.environ if base is None else base)
    env.update(stage.environment())
    return env


def run_chalice(args: Sequence[str], stage: Stage, *, region: str | None = None, profile: str | None = None,
                run: Runner = subprocess.run) -> None:
    """`chalice <args>` in the project, in the stage's environment; raises ToolError if it fails."""
    env = chalice_environment(stage)
    if region:
        env["AWS_DEFAULT_REGION"] = region
    command = [tool("chalice"), "--project-dir", str(stage.project_dir), *args]
    if profile:
        command += ["--profile", profile]
    completed = run(command, env=env, cwd=stage.project_dir)
    if completed.returncode != 0:
        raise ToolError(f"`chalice {' '.join(args)}` failed (exit {completed.returncode}); see its output above")


def cfn_lint(template: Path, run: Runner = subprocess.run) -> str:
    """cfn-lint the template; raises ToolError on errors or warnings, returns what it said."""
    completed = run([tool("cfn-lint"), "--", str(template)], capture_output=True, text=True)
    said = (completed.stdout + completed.stderr).strip()
    # cfn-lint's exit code is a bit field: 1 fatal, 2 error, 4 warning, 8 informational.
    if completed.returncode & (1 | 2 | 4):
        raise ToolError(f"cfn-lint found problems in {template}:\n{said}")
    return said


def validate(stage: Stage) -> None:
    """Chalice's own deploy-time checks of the app and the stage's config (`chalice deploy` runs
    them, `chalice package` does not); raises ToolError with Chalice's message."""
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_configuration

    factory = CLIFactory(str(stage.project_dir), environ=chalice_environment(stage))
    try:
        validate_configuration(factory.create_config_obj(chalice_stage_name=stage.name))
    except (ValueError, RuntimeError) as exc:
        raise ToolError(f"`chalice deploy --stage {stage.name}` would refuse this app: {exc}") from None
