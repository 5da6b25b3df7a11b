"""`python -m xtimer_deploy`: package, deploy, destroy; and the pieces, one by one."""
from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any, Callable

import click

from xtimer_deploy import deploy as deploy_steps
from xtimer_deploy import iam, teardown
from xtimer_deploy.chalice_cli import ToolError, run_chalice
from xtimer_deploy.packaging import PackageError, package as package_stage
from xtimer_deploy.stage import Stage, StageError, load_stage, stage_names
from xtimer_deploy.template import merge_template as build_merge_template
from xtimer_deploy.terraform import TerraformError, package_terraform
from xtimer_deploy.trigger import TriggerError

_FAILURES = (StageError, ToolError, PackageError, TriggerError, TerraformError, deploy_steps.DeployError)


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Our errors become a one-line `Error: ...` and exit 1, not a traceback."""
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except _FAILURES as exc:
            raise click.ClickException(str(exc)) from None
    run.__name__, run.__doc__ = command.__name__, command.__doc__
    return run


def _stage(name: str) -> Stage:
    try:
        return load_stage(name)
    except StageError as exc:
        raise click.BadParameter(str(exc), param_hint="--stage") from None


stage_option = click.option("--stage", "stage_name", required=True, help="A stage of .chalice/config.json.")
profile_option = click.option("--profile", default=None, help="AWS profile (default: AWS_PROFILE or the default).")
region_option = click.option("--region", default=None, help="AWS region (default: AWS_REGION or the profile's).")


@click.group()
def main() -> None:
    """Deploy xtimer to AWS. See docs/deploying.md."""


@main.command("merge-template")
@stage_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@_guarded
def merge_template(stage_name: str, out: Path | None) -> None:
    """The template `chalice package --merge-template` takes: tables, queues, the roles' policy,
    partial batch failures on the SQS trigger."""
    text = json.dumps(build_merge_template(_stage(stage_name)), indent=2) + "\n"
    if out:
        out.write_text(text)
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--stage", "stage_name", default=None, help="One stage (default: every stage).")
@click.option("--write", is_flag=True, help="Rewrite .chalice/policy-<stage>.json.")
@_guarded
def policy(stage_name: str | None, write: bool) -> None:
    """Check (or --write) the functions' IAM policy files against xtimer_deploy.iam.GRANTS."""
    stale = []
    for name in [stage_name] if stage_name else stage_names():
        stage = _stage(name)
        text = json.dumps(iam.policy(stage), indent=2) + "\n"
        current = stage.policy_file.read_text() if stage.policy_file.exists() else ""
        if current == text:
            click.echo(f"{stage.policy_file.name}: up to date")
        elif write:
            stage.policy_file.write_text(text)
            click.echo(f"{stage.policy_file.name}: written")
        else:
            stale.append(stage.policy_file.name)
    if stale:
        raise click.ClickException(f"{', '.join(stale)} out of date: run `python -m xtimer_deploy policy --write`")


@main.command()
@stage_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: build/package/<stage>).")
@click.option("--lint/--no-lint", default=True, show_default=True, help="Run cfn-lint on the template.")
@_guarded
def package(stage_name: str, out: Path | None, lint: bool) -> None:
    """`chalice package` with the merge template, checked, and cfn-linted."""
    stage = _stage(stage_name)
    result = package_stage(stage, out or stage.project_dir / "build" / "package" / stage.name, run_lint=lint)
    shown = result.directory.relative_to(Path.cwd()) if result.directory.is_relative_to(Path.cwd()) else result.directory
    click.echo(f"{shown}/sam.json: every table, queue, function, the API, the minute schedule and the "
               "SQS trigger with ReportBatchItemFailures are there")
    if lint:
        click.echo(f"cfn-lint: no errors, no warnings{(': ' + result.lint_output) if result.lint_output else ''}")
    click.echo(f"{shown}/deployment.zip: {result.deployment_zip.stat().st_size / 1e6:.1f} MB")
    click.echo("Deploy it: see docs/deploying.md, \"Path 2\" (aws cloudformation package / deploy).")


@main.command("package-terraform")
@stage_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: build/terraform/<stage>).")
@_guarded
def package_terraform_command(stage_name: str, out: Path | None) -> None:
    """`chalice package --pkg-format terraform`, completed with the tables, queues, log groups and
    partial batch failures, and checked."""
    stage = _stage(stage_name)
    result = package_terraform(stage, out or stage.project_dir / "build" / "terraform" / stage.name)
    shown = result.directory.relative_to(Path.cwd()) if result.directory.is_relative_to(Path.cwd()) else result.directory
    click.echo(f"{shown}/{result.chalice_tf.name} + {result.xtimer_tf.name}: every table, queue, log group, "
               "function, the API, the minute schedule and the SQS trigger with ReportBatchItemFailures are there")
    click.echo(f"{shown}/deployment.zip: {result.deployment_zip.stat().st_size / 1e6:.1f} MB")
    click.echo(f"Deploy it: cd {shown} && terraform init && terraform apply (docs/deploying.md, \"Path 3\").")


@main.command()
@stage_option
@profile_option
@region_option
@_guarded
def provision(stage_name: str, profile: str | None, region: str | None) -> None:
    """Create the stage's missing tables and queues; report how existing ones differ."""
    stage = _stage(stage_name)
    session = deploy_steps.aws_session(profile, region)
    created, differences = deploy_steps.provision(stage, session)
    for item in created:
        click.echo(f"created {item}")
    if not created:
        click.echo("every table and queue is there already")
    for item in differences:
        click.echo(f"DIFFERS: {item}")
    if differences:
        raise click.ClickException("existing resources differ from what the code needs (above); fix them by hand")


@main.command("set-batch-failures")
@stage_option
@profile_option
@region_option
@_guarded
def set_batch_failures(stage_name: str, profile: str | None, region: str | None) -> None:
    """Turn on ReportBatchItemFailures on the worker's SQS trigger (after `chalice deploy`)."""
    stage = _stage(stage_name)
    for update in deploy_steps.enable_partial_batch_failures(stage, deploy_steps.aws_session(profile, region)):
        click.echo(f"{update.uuid}: {'ReportBatchItemFailures set' if update.changed else 'already set'}")


@main.command()
@stage_option
@profile_option
@region_option
@click.option("--ignore-differences", is_flag=True, help="Deploy even if existing tables or queues differ.")
@click.option("--alarm-email", default=lambda: os.environ.get("ALARM_EMAIL") or None,
              help="Subscribe this address to the alarms' topic (default: $ALARM_EMAIL; none).")
@_guarded
def deploy(stage_name: str, profile: str | None, region: str | None, ignore_differences: bool,
           alarm_email: str | None) -> None:
    """Tables and queues, `chalice deploy`, log groups, partial batch failures, alarms. Safe to run again."""
    stage = _stage(stage_name)
    session = deploy_steps.aws_session(profile, region)
    chalice = partial(run_chalice, stage=stage, region=session.region_name, profile=profile)
    deploy_steps.deploy(stage, session, chalice=chalice, echo=click.echo, ignore_differences=ignore_differences,
                        alarm_email=alarm_email)


@main.command()
@stage_option
@profile_option
@region_option
@click.option("--delete-data", is_flag=True, help="Also delete the tables, queues and log groups.")
@click.option("--yes", is_flag=True, help="Do not ask (for scripts).")
@_guarded
def destroy(stage_name: str, profile: str | None, region: str | None, delete_data: bool, yes: bool) -> None:
    """Delete the stage's app (`chalice delete`); its data only with --delete-data."""
    stage = _stage(stage_name)
    session = deploy_steps.aws_session(profile, region)
    chalice = partial(run_chalice, stage=stage, region=session.region_name, profile=profile)
    teardown.destroy(stage, session, delete_data_too=delete_data, assume_yes=yes, chalice=chalice,
                     confirm=partial(click.confirm, default=False), ask=click.prompt, echo=click.echo,
                     where=deploy_steps.identity(session))
