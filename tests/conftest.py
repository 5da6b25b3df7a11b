"""Fixtures in layers: fake AWS credentials -> moto -> tables and queues -> the service, with a clock
the test controls. No test reaches the network except servers on 127.0.0.1 (pytest-socket)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import botocore.handlers
import pytest
from moto import mock_aws

from chalicelib import wiring
from chalicelib.storage import aws, models, resources
from chalicelib.fires.queue import FireQueue
from chalicelib.delivery.notifier import Notifier
from chalicelib.fires.tasks import TaskRecords
from tests.support import fuzz
from tests.support.aws_calls import CALLS, CallLog
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import LEASE_MS
from tests.support.receiver import Receiver
from xtimer_local import patches

if TYPE_CHECKING:
    from xtimer_deploy.packaging import Package



@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "XTIMER_STAGE": "dev",
        "XTIMER_ALLOW_LOOPBACK_CALLBACKS": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "XTIMER_RESOURCE_PREFIX"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws_mock(aws_environment: None) -> Iterator[None]:
    patches.apply_all()  # the local stack's moto, here too: atomic conditional writes above all
    with mock_aws():
        aws.forget_clients()
        models.reset_connections()
        yield
    aws.forget_clients()
    models.reset_connections()


@pytest.fixture
def provisioned(aws_mock: None) -> None:
    models.bind()
    resources.provision(aws.dynamodb(), aws.sqs())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at("2026-03-01T12:00:30"))


@pytest.fixture
def service(provisioned: None, clock: FakeClock) -> Iterator[wiring.Services]:
    """The whole service on moto, with the test's clock; fires are visible in the queue at once
    (the worker still waits for each fire time on the fake clock)."""
    queue = FireQueue(clock=clock, sleep=clock.sleep, max_delay_seconds=0)
    # A batch's workers wait for fires up to two minutes apart on one shared fake clock, which
    # jumps when the first of them wakes; a lease longer than any test's span keeps a claim from
    # looking abandoned while its worker is merely still "waiting". Tests of abandoned claims
    # move the clock past it (LEASE_MS).
    services = wiring.build(clock=clock, sleep=clock.sleep, queue=queue, tasks=TaskRecords(lease_ms=LEASE_MS),
                            notifier=Notifier(connect_timeout=1.0, read_timeout=2.0),
                            max_early_seconds=float("inf"))
    wiring.use(services)
    yield services
    wiring.use(None)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@pytest.fixture(scope="session")
def prod_package(tmp_path_factory: pytest.TempPathFactory) -> "Package":
    """`make package STAGE=prod`, once per session (about 10 s: the real `chalice package`), for
    every test that checks or runs the deployment artifact."""
    from xtimer_deploy.packaging import package
    from xtimer_deploy.stage import load_stage

    return package(load_stage("prod"), tmp_path_factory.mktemp("package") / "prod")


# --- deploy: the AWS calls of the whole session, for the IAM policy check ---------------------

RUNS_LAST = "runs_last"
_SESSION: dict = {"deselected": 0, "whole_suite": False, "modules": set()}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-examples", type=int, default=fuzz.DEFAULT_EXAMPLES, metavar="N",
                     help="examples per API operation in tests/component/test_fuzz.py "
                          f"(default {fuzz.DEFAULT_EXAMPLES}; e.g. 500 for a long run)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{RUNS_LAST}: run after every other test (it reads what they did)")
    fuzz.set_examples(config.getoption("fuzz_examples"))


KINDS = ("unit", "component", "e2e")
"""Each test is marked with the folder it sits in (tests/unit, tests/component, tests/e2e), so
`pytest -m unit` runs the fast ones alone. bench/'s own tests mark themselves unit."""


def pytest_deselected(items: list[pytest.Item]) -> None:
    _SESSION["deselected"] += len(items)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test gets its folder's kind as a marker; tests marked runs_last go to the end, in their order."""
    for item in items:
        kind = Path(str(item.path)).parent.name
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
    items.sort(key=lambda item: item.get_closest_marker(RUNS_LAST) is not None)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Every test module collected, skipped ones too (a module skipped whole has no items)."""
    path = Path(str(getattr(report, "fspath", "") or "")).name
    if path.startswith("test_") and path.endswith(".py") and report.outcome in {"passed", "skipped"}:
        _SESSION["modules"].add(path)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Whether this session runs every test module of tests/ with nothing deselected."""
    every = {path.name for path in Path(__file__).parent.rglob("test_*.py")}
    _SESSION["whole_suite"] = every <= _SESSION["modules"] and not _SESSION["deselected"]


@pytest.fixture(scope="session", autouse=True)
def aws_calls() -> Iterator[CallLog]:
    """Records every AWS call of the session (see tests/support/aws_calls.py): a botocore handler on
    every client and PynamoDB connection made from now on."""
    handler = ("before-parameter-build", CALLS)
    botocore.handlers.BUILTIN_HANDLERS.append(handler)
    yield CALLS
    botocore.handlers.BUILTIN_HANDLERS.remove(handler)


@pytest.fixture
def whole_suite() -> bool:
    """True when every test module runs in this session (the full `make test`)."""
    return bool(_SESSION["whole_suite"])
