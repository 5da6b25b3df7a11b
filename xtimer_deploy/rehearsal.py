"""A stage's AWS side on a local moto server, for running the packaged functions against it.

`moto_stage(stage)` starts `python -m xtimer_local.moto_server` in a process of its own, creates
the stage's tables and queues there exactly as `make deploy` does (`deploy.provision`), and can
issue API keys into the stage's key table as `python -m xtimer_admin keys create` does. Used
with `lambda_sandbox` by tests/e2e/test_lambda_artifact.py and bench/coldstart.py.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator
from unittest import mock

import boto3

from xtimer_deploy.deploy import provision
from xtimer_deploy.lambda_sandbox import FAKE_CREDENTIALS
from xtimer_deploy.stage import PROJECT_DIR, Stage


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MotoStage:
    stage: Stage
    endpoint: str
    region: str

    @property
    def function_env(self) -> dict[str, str]:
        """What a sandboxed function needs on top of Lambda's environment to reach this moto."""
        return {"AWS_ENDPOINT_URL": self.endpoint}

    def client(self, service: str) -> Any:
        """A boto3 client of this moto (for a test's own look at the tables and queues)."""
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    @contextmanager
    def as_the_stage(self) -> Iterator[None]:
        """This process's environment as the stage's on this moto, with chalicelib's models bound
        to it for the block (and unbound after, so the process's other users see no change)."""
        from chalicelib.storage import aws, models

        variables = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": self.region,
                     "AWS_DEFAULT_REGION": self.region, **FAKE_CREDENTIALS}
        with mock.patch.dict(os.environ, variables), self.stage.active():
            aws.forget_clients()
            models.reset_connections()
            models.bind()
            try:
                yield
            finally:
                aws.forget_clients()
                models.reset_connections()
        models.bind()  # back to this process's own endpoint and names

    def issue_key(self, app: str) -> str:
        """A new API key for `app` in the stage's key table (what `xtimer_admin keys create` does)."""
        from chalicelib.apps.keys import ApiKeys

        with self.as_the_stage():
            key, _ = ApiKeys().issue(app)
        return key


@contextmanager
def moto_stage(stage: Stage, *, region: str = "us-east-1", timeout: float = 60.0) -> Iterator[MotoStage]:
    """A moto server in its own process with `stage`'s tables and queues; stopped after the block."""
    port = _free_port()
    child = subprocess.Popen([sys.executable, "-m", "xtimer_local.moto_server", "--port", str(port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             cwd=PROJECT_DIR)
    ready = threading.Event()

    def wait_for_ready() -> None:
        if child.stdout is not None and child.stdout.readline() == b"ready\n":
            ready.set()

    try:
        threading.Thread(target=wait_for_ready, name="moto-ready", daemon=True).start()
        if not ready.wait(timeout):
            raise RuntimeError(f"moto did not start on port {port} within {timeout:.0f} s")
        moto = MotoStage(stage, f"http://127.0.0.1:{port}", region)
        variables = {"AWS_ENDPOINT_URL": moto.endpoint, **FAKE_CREDENTIALS}
        with mock.patch.dict(os.environ, variables):
            created, differences = provision(stage, boto3.session.Session(region_name=region))
        if differences:
            raise RuntimeError(f"moto's tables and queues differ from the stage's: {differences}")
        yield moto
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
