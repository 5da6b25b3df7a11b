"""The whole service on one machine: embedded AWS (moto), the API, the minute tick and the worker.

Every part runs the very handler the Lambda functions run (app.tick, app.worker, the routes);
only the triggers are emulated: a thread that ticks at each minute boundary instead of
EventBridge, long-polling threads instead of Lambda's SQS event source mapping.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("xtimer.local")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def local_environment(endpoint_url: str | None) -> dict[str, str]:
    """Environment of the local stack: its own stage, fake credentials for moto, loopback allowed."""
    env = {
        "XTIMER_STAGE": os.environ.get("XTIMER_STAGE", "local"),
        "XTIMER_ALLOW_LOOPBACK_CALLBACKS": "true",
        "XTIMER_METRICS": os.environ.get("XTIMER_METRICS", "prometheus"),  # GET /metrics (docs/operations.md)
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env[name] = os.environ.get(name, "local")
    return env


def scheduled_event(now: float) -> dict[str, Any]:
    """The event EventBridge hands a scheduled Lambda."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "time": datetime.fromtimestamp(int(now), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": ["arn:aws:events:local:123456789012:rule/xtimer-tick"], "detail": {},
    }


class TickLoop(threading.Thread):
    """Calls the tick handler right away and then just after every minute boundary."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], Any], stop: threading.Event,
                 offset: float = 0.05) -> None:
        super().__init__(name="tick", daemon=True)
        self._handler = handler
        self._stop_event = stop
        self._offset = offset

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = time.time()
            try:
                self._handler(scheduled_event(now), None)
            except Exception:
                log.exception("tick failed; the next one catches up")
            next_minute = (int(time.time()) // 60 + 1) * 60 + self._offset
            self._stop_event.wait(max(0.0, next_minute - time.time()))


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 8000
    pollers: int = 4
    concurrency: int = 64  # batches handled at once, as Lambda's concurrency (xtimer_local.poller.Invocations)
    endpoint_url: str | None = None  # use this AWS endpoint instead of starting moto
    moto_speedups: bool = True  # O(1) SQS in the embedded moto (xtimer_local.moto_speedups)
    moto_process: bool = True  # the embedded moto in a child process (xtimer_local.moto_server)
    stop_event: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    dev_key: str | None = None
    _moto: Any = None
    _moto_child: subprocess.Popen[bytes] | None = None
    _invocations: Any = None
    _api: Any = None

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or self._start_moto()
        os.environ.update(local_environment(endpoint))

        import app as chalice_app  # after the environment is set: the worker's queue name is read at import
        from chalicelib.storage import aws, resources
        from chalicelib.wiring import services
        from xtimer_local.poller import Invocations, Poller

        services()  # builds the service once, binding the models to the local endpoint
        created = resources.provision(aws.dynamodb(), aws.sqs())
        log.info("AWS endpoint %s: %s", endpoint, ", ".join(created) or "tables and queues already there")
        self._start_api(chalice_app.app)
        self.dev_key = self._development_key()

        sqs = aws.sqs()
        from chalicelib import config
        url = sqs.get_queue_url(QueueName=config.fire_queue())["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._invocations = Invocations(self.concurrency)
        for number in range(self.pollers):
            self._threads.append(Poller(sqs, url, arn, chalice_app.worker, self.stop_event, name=f"worker-{number}",
                                        invocations=self._invocations))
        self._threads.append(TickLoop(chalice_app.tick, self.stop_event))
        for thread in self._threads:
            thread.start()
        log.info("tick every minute, %s worker pollers on %s, up to %s batches at once", self.pollers,
                 config.fire_queue(), self.concurrency)
        log.info("API on %s (try %s/health; metrics on %s/metrics)", self.api_url, self.api_url, self.api_url)

    def _development_key(self) -> str | None:
        """With authentication on (XTIMER_AUTH=required), a key for the app XTIMER_DEV_APP (demo)."""
        from chalicelib import config
        from chalicelib.wiring import services

        if not config.auth_required():
            return None
        app_name = os.environ.get("XTIMER_DEV_APP", "demo")
        key, _ = services().keys.issue(app_name)
        log.info("authentication is on: development key for app %r: %s (header X-Xtimer-Key)", app_name, key)
        return key

    def _start_moto(self) -> str:
        port = free_port(self.host)
        endpoint = f"http://{self.host}:{port}"
        if self.moto_process:
            self._start_moto_process(port)
            log.info("embedded AWS (moto) on %s (process %s)", endpoint, self._moto_child.pid)
            return endpoint
        from moto.server import ThreadedMotoServer

        if self.moto_speedups:
            from xtimer_local import moto_speedups
            moto_speedups.apply()
        from xtimer_local import moto_atomic

        moto_atomic.apply()  # conditional writes atomic, as on AWS (the worker's claim relies on it)
        self._moto = ThreadedMotoServer(ip_address=self.host, port=port, verbose=False)
        self._moto.start()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        log.info("embedded AWS (moto) on %s", endpoint)
        return endpoint

    def _start_moto_process(self, port: int, timeout: float = 60.0) -> None:
        """moto in a child process (xtimer_local.moto_server), which ends when our end of its
        standard input closes: in stop(), or when this process dies."""
        command = [sys.executable, "-m", "xtimer_local.moto_server", "--host", self.host, "--port", str(port)]
        if not self.moto_speedups:
            command.append("--no-speedups")
        self._moto_child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            cwd=Path(__file__).resolve().parent.parent)
        ready = threading.Event()
        output = self._moto_child.stdout

        def wait_for_ready() -> None:
            if output is not None and output.readline() == b"ready\n":
                ready.set()

        threading.Thread(target=wait_for_ready, name="moto-ready", daemon=True).start()
        began = time.monotonic()
        while not ready.wait(0.1):
            if self._moto_child.poll() is not None or time.monotonic() - began > timeout:
                self._stop_moto_process()
                raise OSError(f"moto did not start on port {port}")

    def _stop_moto_process(self) -> None:
        child, self._moto_child = self._moto_child, None
        if child is None:
            return
        try:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            child.kill()
            child.wait(5)

    def _start_api(self, app_object: Any) -> None:
        from chalice.config import Config
        from chalice.local import create_local_server

        server = create_local_server(app_object, Config.create(chalice_stage="local", app_name="xtimer"),
                                     self.host, self.port)
        self._api = server
        thread = threading.Thread(target=server.server.serve_forever, name="api", daemon=True)
        thread.start()

    def wait(self) -> None:
        while not self.stop_event.wait(0.5):
            pass

    def stop(self) -> None:
        self.stop_event.set()
        if self._api is not None:
            self._api.shutdown()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._invocations is not None:
            self._invocations.shutdown(wait=False)  # batches still running finish on their own
        if self._moto is not None:
            self._moto.stop()
        self._stop_moto_process()
        log.info("stopped")
