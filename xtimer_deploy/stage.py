"""A Chalice stage as the deploy commands see it: its settings from `.chalice/config.json`, the
names of its tables, queues and functions, and its environment.

Table and queue names come from chalicelib.config, read with the stage's environment variables
applied (`Stage.environment()`), exactly as the deployed functions will read them.
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

PROJECT_DIR = Path(__file__).resolve().parent.parent

FUNCTIONS: dict[str, str] = {"APIHandler": "api_handler", "Tick": "tick", "Worker": "worker"}
"""The Lambda functions app.py defines: CloudFormation logical id -> Chalice's name for it
(`lambda_functions` keys in config.json). `check_template` checks this against the packaged
template, so a new handler in app.py is noticed."""


def _cfn_name(name: str) -> str:
    """Chalice's resource name -> its CloudFormation logical id (chalice.package.to_cfn_resource_name)."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name))


def role_id(logical_id: str) -> str:
    """With autogen_policy false Chalice gives each function its own role (`<name>_role`), all
    with the stage's policy file."""
    return _cfn_name(f"{FUNCTIONS[logical_id]}_role")


def log_group_id(logical_id: str) -> str:
    """The log group Chalice adds for a function when log_retention_in_days is set."""
    return _cfn_name(f"{FUNCTIONS[logical_id]}-log-group")

def resource_ids() -> dict[str, str]:
    """CloudFormation logical ids of the tables and queues, by their key in chalicelib.storage.resources:
    "timer_names" -> "TimerNamesTable", "fire_queue" -> "FireQueue"."""
    from chalicelib.storage import resources

    ids = {key: f"{_cfn_name(key)}Table" for key in resources.TABLES}
    ids.update({queue.key: _cfn_name(queue.key) for queue in resources.queue_definitions()})
    return ids


WORKER_TRIGGER = "WorkerSqsEventSource"
"""Chalice's name for the worker's SQS event source inside the Worker function's SAM Events."""


class StageError(RuntimeError):
    """The stage is not configured in .chalice/config.json, or not the way deployment needs."""


@dataclass(frozen=True)
class Stage:
    name: str
    app_name: str
    variables: dict[str, str] = field(default_factory=dict)  # environment_variables, global then stage
    settings: dict[str, Any] = field(default_factory=dict)  # the stage's block of config.json
    project_dir: Path = PROJECT_DIR

    def function_name(self, logical_id: str) -> str:
        """The deployed Lambda function's name, as `chalice deploy` names it."""
        handler = FUNCTIONS[logical_id]
        if handler == "api_handler":
            return f"{self.app_name}-{self.name}"
        return f"{self.app_name}-{self.name}-{handler}"

    def role_name(self, logical_id: str) -> str:
        """The function's IAM role as `chalice deploy` names it (autogen_policy false)."""
        return f"{self.app_name}-{self.name}-{FUNCTIONS[logical_id]}"

    def function_names(self) -> dict[str, str]:
        return {logical_id: self.function_name(logical_id) for logical_id in FUNCTIONS}

    @property
    def policy_file(self) -> Path:
        name = self.settings.get("iam_policy_file") or f"policy-{self.name}.json"
        return self.project_dir / ".chalice" / name

    @property
    def deployed_file(self) -> Path:
        return self.project_dir / ".chalice" / "deployed" / f"{self.name}.json"

    def environment(self) -> dict[str, str]:
        """What the stage's functions find in their environment (XTIMER_STAGE always set)."""
        return {"XTIMER_STAGE": self.name, **self.variables}

    @contextmanager
    def active(self) -> Iterator[Stage]:
        """Apply the stage's environment to this process for the block (chalicelib.config reads it)."""
        saved = {name: os.environ.get(name) for name in self.environment()}
        os.environ.update(self.environment())
        try:
            yield self
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def names(self) -> dict[str, str]:
        """Every table and queue name of the stage, by its key in chalicelib.storage.resources."""
        from chalicelib.storage import resources

        with self.active():
            names = {key: resources.table_definition(model)["TableName"] for key, model in resources.TABLES.items()}
            names.update({queue.key: queue.name for queue in resources.queue_definitions()})
            return names


def read_config(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    path = project_dir / ".chalice" / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StageError(f"{path} not found: run the deploy commands from an xtimer checkout") from None


def stage_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(read_config(project_dir).get("stages", {}))


def load_stage(name: str, project_dir: Path = PROJECT_DIR) -> Stage:
    config = read_config(project_dir)
    stages = config.get("stages", {})
    if name not in stages:
        raise StageError(f"stage {name!r} is not in .chalice/config.json; the stages there are "
                         f"{', '.join(sorted(stages)) or 'none'} (add a block under \"stages\" to make one)")
    settings = stages[name]
    variables = {**config.get("environment_variables", {}), **settings.get("environment_variables", {})}
    stage_variable = variables.get("XTIMER_STAGE", name)
    if stage_variable != name:
        raise StageError(f"stage {name!r} sets XTIMER_STAGE={stage_variable!r} in .chalice/config.json; "
                         "they must be the same")
    return Stage(name=name, app_name=config["app_name"], variables=variables, settings=settings,
                 project_dir=project_dir)
