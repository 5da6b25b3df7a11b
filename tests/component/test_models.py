"""The models' AWS connection under many threads at once, as the worker uses it."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.session
import pytest
from pynamodb.exceptions import DoesNotExist

from chalicelib.storage import models
from chalicelib.storage.models import TaskModel, TimerModel


def test_threads_calling_dynamodb_together_for_the_first_time_build_one_client_per_table(
        provisioned: None, monkeypatch: pytest.MonkeyPatch) -> None:
    models.reset_connections()
    models.bind()
    built: list[str] = []
    create_client = botocore.session.Session.create_client

    def counted(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    threads = 32
    start = threading.Barrier(threads)

    def first_call(i: int) -> str:
        start.wait()
        try:
            TaskModel.get(i, i) if i % 2 == 0 else TimerModel.get(i)
        except DoesNotExist:
            return "missing"
        return "found"

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(first_call, range(threads)))

    assert answers == ["missing"] * threads
    assert built == ["dynamodb"]  # one, shared by the timers and the tasks table
