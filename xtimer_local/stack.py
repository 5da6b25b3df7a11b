"""The whole service on one machine: embedded AWS (moto), the API, the minute tick and the worker.

Every part runs the very handler the Lambda functions run (app.tick, app.worker, the routes);
only the triggers are emulated: a thread that ticks at each minute boundary instead of
EventBridge, long-polling threads instead of Lambda's SQS event source mapping.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Collection

from chalicelib import heap
from xtimer_local.moto_child import MotoChild
from xtimer_local.worker_child import WorkerChild
from xtimer_local.stopping import Stopping, StoppableSleep

log = logging.getLogger("xtimer.local")


def free_port(host: str = "127.0.0.1", avoid: Collection[int] = ()) -> int:
    """A port the OS says is free on `host`, other than those in `avoid`: ports chosen but not
    yet bound (the API's `--port`, picked free by the caller, is free until the API binds it
    after moto has started, so moto's own pick could otherwise be the same)."""
    while True:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port not in avoid:
            return port


DEFAULT_STATE_DIR = Path(__file__).resolve().parent.parent / ".xtimer-local"
"""Where `make run` keeps its moto's journal: in the checkout, ignored by git."""

STOP_BUDGET_SECONDS = 4.0
"""How long stop() gives the API, the pollers, the tick and running callbacks before it hands
the held messages back and stops moto (Ctrl-C must be done within 5 s)."""


def local_environment(endpoint_url: str | None) -> dict[str, str]:
    """Environment of the local stack: its own stage, fake credentials for moto, loopback allowed
    unless XTIMER_ALLOW_LOOPBACK_CALLBACKS says otherwise (to try a deployed stage's SSRF checks)."""
    env = {
        "XTIMER_STAGE": os.environ.get("XTIMER_STAGE", "local"),
        "XTIMER_ALLOW_LOOPBACK_CALLBACKS": os.environ.get("XTIMER_ALLOW_LOOPBACK_CALLBACKS", "").strip() or "true",
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
            except Stopping:
                return
            except Exception:
                log.exception("tick failed; the next one catches up")
            next_minute = (int(time.time()) // 60 + 1) * 60 + self._offset
            self._stop_event.wait(max(0.0, next_minute - time.time()))


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 8000
    pollers: int = 4  # per worker process
    concurrency: int = 64  # batches handled at once per worker process, as Lambda's concurrency (poller.Invocations)
    worker_processes: int = 1  # this one, and the rest in processes of their own (xtimer_local.worker_child)
    endpoint_url: str | None = None  # use this AWS endpoint instead of starting moto
    moto_speedups: bool = True  # the embedded moto's speed-ups (xtimer_local.moto_speedups, moto_dynamodb_speedups)
    moto_process: bool = True  # the embedded moto in a child process (xtimer_local.moto_server)
    state_dir: Path | None = DEFAULT_STATE_DIR  # the embedded moto's journal; None: memory only
    fresh: bool = False  # forget the state directory's journal first
    stop_event: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    dev_key: str | None = None
    _moto: Any = None
    _moto_child: MotoChild | None = None
    _workers: Any = None  # this process's WorkerPool
    _worker_children: list[WorkerChild] = field(default_factory=list)
    _metrics_dir: str | None = None  # the worker processes' metrics files (prometheus_client multiprocess)
    _api: Any = None

    def _share_metrics(self) -> None:
        """/metrics adds up every worker process's figures (chalicelib/observability/prometheus.py)."""
        if "prometheus_client" in sys.modules:
            log.warning("prometheus_client was imported before the stack started: /metrics counts this "
                        "process's worker only, not the other worker processes'")
            return
        self._metrics_dir = tempfile.mkdtemp(prefix="xtimer-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or self._start_moto()
        os.environ.update(local_environment(endpoint))
        if self.worker_processes > 1:
            self._share_metrics()

        import app as chalice_app  # after the environment is set: the worker's queue name is read at import
        from chalicelib import wiring
        from chalicelib.storage import aws, resources
        from xtimer_local.worker_pool import WorkerPool

        # The service, bound to the local endpoint, with a sleep that ends when the stack stops.
        wiring.use(wiring.build(sleep=StoppableSleep(self.stop_event)))
        created = resources.provision(aws.dynamodb(), aws.sqs())
        log.info("AWS endpoint %s: %s", endpoint, ", ".join(created) or "tables and queues already there")
        self._start_api(chalice_app.app)
        self.dev_key = self._development_key()

        sqs = aws.sqs()
        from chalicelib import config
        url = sqs.get_queue_url(QueueName=config.fire_queue())["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for number in range(1, self.worker_processes):
            self._worker_children.append(WorkerChild(number, pollers=self.pollers,
                                                     concurrency=self.concurrency).start())
        self._workers = WorkerPool(sqs, url, arn, chalice_app.worker, self.stop_event, pollers=self.pollers,
                                   concurrency=self.concurrency)
        self._workers.start()
        self._threads.append(TickLoop(chalice_app.tick, self.stop_event))
        for thread in self._threads:
            thread.start()
        log.info("tick every minute, %s worker pollers on %s, up to %s batches at once%s", self.pollers,
                 config.fire_queue(), self.concurrency,
                 f", in each of {self.worker_processes} worker processes" if self.worker_processes > 1 else "")
        if config.allow_loopback_callbacks():
            log.info("callbacks to 127.0.0.1 and localhost are allowed (XTIMER_ALLOW_LOOPBACK_CALLBACKS=false "
                     "refuses them, as a deployed stage does)")
        else:
            log.info("callbacks to loopback addresses are refused, as on a deployed stage "
                     "(XTIMER_ALLOW_LOOPBACK_CALLBACKS=false)")
        log.info("API on %s (try %s/health; metrics on %s/metrics)", self.api_url, self.api_url, self.api_url)
        heap.freeze_startup()  # what is built by now lives as long as the stack (chalicelib.heap)

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
        port = free_port(self.host, avoid={self.port})
        endpoint = f"http://{self.host}:{port}"
        if self.state_dir is None:
            log.info("state: in memory only; it is gone when the stack stops")
        else:
            log.info("state: %s (kept across restarts; `make run FRESH=1` or --fresh starts empty)", self.state_dir)
        if self.moto_process:
            self._moto_child = MotoChild(self.host, port, state_dir=self.state_dir, fresh=self.fresh,
                                         sqs_speedups=self.moto_speedups, dynamodb_speedups=self.moto_speedups).start()
            log.info("embedded AWS (moto) on %s (process %s)", endpoint, self._moto_child.pid)
            return endpoint
        from xtimer_local.moto_server import MotoServer

        self._moto = MotoServer(self.host, port, state_dir=self.state_dir, fresh=self.fresh,
                                sqs_speedups=self.moto_speedups, dynamodb_speedups=self.moto_speedups).start()
        log.info("embedded AWS (moto) on %s", endpoint)
        return endpoint

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
        """Stop in order, so nothing is lost and nothing fails: stop taking work (the API, the
        pollers, the tick), let running invocations end (their waits for a fire second end at
        once: StoppableSleep), hand the messages still held back to the queue, then stop moto."""
        began = time.monotonic()
        deadline = began + STOP_BUDGET_SECONDS
        self.stop_event.set()
        for child in self._worker_children:
            child.ask_to_stop()  # each stops as this process's worker does, at the same time
        steps: dict[str, float] = {}
        api = threading.Thread(target=self._api.shutdown, name="api-shutdown") if self._api is not None else None
        if api is not None:
            api.start()  # its loop notices within 0.5 s; meanwhile the pollers end their long polls
        if self._workers is not None:
            self._workers.join_pollers(deadline)
        for thread in self._threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        if api is not None:
            api.join(timeout=max(0.1, deadline - time.monotonic()))
        steps["work"] = time.monotonic() - began
        if self._workers is not None:
            self._workers.finish(deadline)
        for child in self._worker_children:  # before moto stops: they hand their held messages back to it
            if not child.wait(deadline + 1 - time.monotonic()):
                log.warning("worker process %s did not stop in time and was killed; the fires it held show up "
                            "again after the queue's visibility timeout", child.number)
        self._worker_children = []
        steps["callbacks and hand-back"] = time.monotonic() - began - sum(steps.values())
        if self._moto is not None:
            self._moto.stop()
        if self._moto_child is not None:
            self._moto_child.stop()
            self._moto_child = None
        steps["moto"] = time.monotonic() - began - sum(steps.values())
        if self._metrics_dir is not None:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            self._metrics_dir = None
        log.info("stopped in %.1f s (%s)", time.monotonic() - began,
                 ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items()))
