"""An extra worker process of the local stack (`--worker-processes`) that cannot start says so:
the stack gets WorkerDidNotStart with the child's exit code, not a hang and not a half-started stack."""
from __future__ import annotations

import pytest

from xtimer_local.stack import free_port
from xtimer_local.worker_child import WorkerChild, WorkerDidNotStart


def test_a_worker_process_that_cannot_reach_its_queue_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on this port: the child's first SQS call fails and it exits before "ready".
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("XTIMER_STAGE", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    child = WorkerChild(1, pollers=1, concurrency=1)
    with pytest.raises(WorkerDidNotStart, match=r"worker process 1 exited with code [1-9]\d* before it was ready"):
        child.start(timeout=60)
    assert child.process is None  # nothing left running
