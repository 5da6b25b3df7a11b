"""`python -m xtimer_admin`: API keys, signing secrets and dead letters of a stage.

Talks to AWS with the usual credentials (or to the local stack with AWS_ENDPOINT_URL, which
`make run` prints); the stage comes from --stage or XTIMER_STAGE.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone

import click

from chalicelib.api import validation
from chalicelib.errors import XtimerError


def _when(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _app(value: str) -> str:
    try:
        return validation.app_name({"app": value})
    except XtimerError as err:
        raise click.BadParameter(err.message) from None


@click.group()
@click.option("--stage", envvar="XTIMER_STAGE", default="dev", show_default=True,
              help="Stage whose tables and queues to use (names: xtimer-<stage>-...).")
def cli(stage: str) -> None:
    """Operate an xtimer stage: API keys, signing secrets, dead letters."""
    os.environ["XTIMER_STAGE"] = stage


@cli.group()
def keys() -> None:
    """Issue, list and revoke API keys (header X-Xtimer-Key)."""


@keys.command("create")
@click.option("--app", required=True, help="The app the key acts for.")
def keys_create(app: str) -> None:
    """Issue a new key. It is shown once: store it now."""
    from chalicelib.wiring import services
    key, info = services().keys.issue(_app(app))
    click.echo(key)
    click.echo(f"key id {info.key_id} for app {app!r}; send it as the X-Xtimer-Key header", err=True)


@keys.command("list")
@click.option("--app", required=True)
def keys_list(app: str) -> None:
    """The app's keys (ids only; keys are stored as hashes)."""
    from chalicelib.wiring import services
    for info in services().keys.list(_app(app)):
        state = f"revoked {_when(info.revoked_at)}" if info.revoked_at else "active"
        click.echo(f"{info.key_id}  created {_when(info.created_at)}  {state}")


@keys.command("revoke")
@click.option("--app", required=True)
@click.argument("key_id")
def keys_revoke(app: str, key_id: str) -> None:
    """Revoke a key by its id (the first 12 characters); effective within a minute."""
    from chalicelib.wiring import services
    if not services().keys.revoke(_app(app), key_id):
        raise click.ClickException(f"app {app!r} has no key {key_id!r} (see: keys list --app {app})")
    click.echo(f"revoked {key_id}")


@cli.group()
def secret() -> None:
    """Show and rotate an app's callback signing secret."""


@secret.command("show")
@click.option("--app", required=True)
def secret_show(app: str) -> None:
    from chalicelib.wiring import services
    item = services().signing.load(_app(app))
    click.echo(item.signing_secret)


@secret.command("rotate")
@click.option("--app", required=True)
@click.option("--grace-hours", type=click.IntRange(0, 24 * 30), default=24, show_default=True,
              help="How long callbacks carry the old secret's signature too.")
def secret_rotate(app: str, grace_hours: int) -> None:
    """A new secret; both verify until the grace period ends."""
    from chalicelib.wiring import services
    item = services().signing.rotate(_app(app), grace_seconds=grace_hours * 3600)
    click.echo(item.signing_secret)


@cli.command()
@click.option("--max", "limit", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True,
              help="Move at most this many messages.")
def redrive(limit: int) -> None:
    """Move dead-lettered fires back to the fire queue, to be tried again (do it once the receiver is fixed).

    Prints {"moved", "left", "failed", "remaining"} as JSON, and a sentence on stderr; exits 1 if
    a fire could not be moved or messages remain (run it again)."""
    from chalicelib.delivery.redrive import redrive_dead_letters
    from chalicelib.wiring import services
    parts = services()
    report = redrive_dead_letters(limit=limit, queue=parts.queue, tasks=parts.tasks)
    click.echo(json.dumps(report.__dict__))
    click.echo(report.summary(), err=True)
    if report.failed or report.remaining:
        sys.exit(1)


if __name__ == "__main__":
    cli()
