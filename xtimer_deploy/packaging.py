"""`chalice package` with the merge template, checked: what `make package` runs.

Writes into the output directory:
    merge-template.json   what xtimer adds to Chalice's template (xtimer_deploy.template)
    sam.json              the merged SAM template, for `aws cloudformation package` / `deploy`
    deployment.zip        the functions' code and dependencies
after Chalice's own deploy-time checks of the app (which `chalice package` skips), and then
checks sam.json for every piece of the stage (`check_template`) and runs cfn-lint on it.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtimer_deploy.chalice_cli import Runner, cfn_lint, run_chalice, validate
from xtimer_deploy.stage import Stage
from xtimer_deploy.template import check_template, merge_template


class PackageError(RuntimeError):
    """Packaging produced a template that would not deploy a working stage."""


@dataclass(frozen=True)
class Package:
    directory: Path
    template: Path
    deployment_zip: Path
    merge_template: Path
    lint_output: str = ""


def package(stage: Stage, out: Path, *, run_lint: bool = True, run: Runner = subprocess.run) -> Package:
    validate(stage)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    merge_path = out / "merge-template.json"
    merge_path.write_text(json.dumps(merge_template(stage), indent=2) + "\n")
    for stale in ("sam.json", "deployment.zip"):
        (out / stale).unlink(missing_ok=True)
    # The region is not written into the template (it uses ${AWS::Region}); Chalice only insists
    # that one is configured.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    run_chalice(["package", "--stage", stage.name, "--merge-template", str(merge_path), str(out)], stage,
                region=region, run=run)
    template_path = out / "sam.json"
    try:
        template: dict[str, Any] = json.loads(template_path.read_text())
    except FileNotFoundError:
        raise PackageError(f"chalice package wrote no {template_path}") from None
    problems = check_template(template, stage)
    if problems:
        raise PackageError(f"{template_path} would not deploy a working stage:\n  " + "\n  ".join(problems))
    said = cfn_lint(template_path, run=run) if run_lint else ""
    return Package(directory=out, template=template_path, deployment_zip=out / "deployment.zip",
                   merge_template=merge_path, lint_output=said)
