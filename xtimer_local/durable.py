"""moto that keeps what it acknowledged: a WSGI layer that journals every accepted write.

moto keeps its state in memory; the local stack wraps moto's WSGI app in `DurableMoto`, which
writes each DynamoDB and SQS request that changed something to the journal (xtimer_local/journal.py)
and fsyncs it *before* moto's reply goes back. At start the journal is replayed into the fresh
moto, then compacted. So whatever a client was told succeeded (a creatTimer, a claim, a deleted
message) is there after a restart, a `kill -9` included.

What is journaled, and how it comes back:

- DynamoDB: every request other than a read, verbatim (its JSON body and the headers that say
  which action, region and account it is), if moto answered 2xx. Replayed in the same order
  into the same empty moto, each gives the same result: a conditional write that won, wins.
- SQS queues (CreateQueue, SetQueueAttributes, tags, DeleteQueue...): verbatim, the same way.
- SQS messages: not the requests (a receipt handle means nothing to another moto) but their
  effect: a message sent (its body, attributes and when it becomes visible), a message deleted
  (by message id: receipt handles are mapped to ids from the ReceiveMessage replies), a message
  hidden by ChangeMessageVisibility until some time. At start every message not deleted is sent
  again with the delay it has left; one that was in flight when the stack died is visible at
  once (the worker's claims in the tasks table make a second delivery harmless).

Compaction replaces the log by what it amounts to: the table and queue definitions as they were
journaled, one PutItem per item there now, one message per message queued. It runs at start
and whenever the log has grown past `compact_after` entries and twice its compacted size.
"""
from __future__ import annotations

import io
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator

from werkzeug.test import Client

from xtimer_local.journal import Journal

log = logging.getLogger("xtimer.local")

DYNAMODB = "DynamoDB_20120810"
SQS = "AmazonSQS"
HEADERS_KEPT = ("Authorization", "Content-Type", "X-Amz-Target")

DYNAMODB_READS = frozenset({
    "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "DescribeTimeToLive",
    "ListTables", "ListTagsOfResource", "DescribeContinuousBackups", "DescribeEndpoints", "DescribeLimits",
    "DescribeGlobalTable", "DescribeKinesisStreamingDestination", "ListBackups", "ListGlobalTables",
    "ListExports", "DescribeExport", "DescribeBackup", "DescribeTableReplicaAutoScaling", "ListImports",
})
DYNAMODB_ITEM_WRITES = frozenset({
    "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement",
    "BatchExecuteStatement", "ExecuteTransaction",
})
"""Replaced at compaction by the items they left behind."""

SQS_READS = frozenset({"GetQueueUrl", "GetQueueAttributes", "ListQueues", "ListQueueTags",
                       "ListDeadLetterSourceQueues", "ListMessageMoveTasks"})
SQS_QUEUE_WRITES = frozenset({"CreateQueue", "DeleteQueue", "SetQueueAttributes", "TagQueue", "UntagQueue",
                              "AddPermission", "RemovePermission", "PurgeQueue"})
SQS_MESSAGE_WRITES = frozenset({"SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch",
                                "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"})

MAX_DELAY_SECONDS = 900  # SQS's limit on DelaySeconds
RECEIPTS_KEPT = 200_000  # receipt handle -> message id, for the deletes still to come


def queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


class Messages:
    """The SQS messages not deleted yet, by message id, in the order they were sent."""

    def __init__(self) -> None:
        self.live: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._gone: set[str] = set()  # deleted before their send was seen (cannot happen in order, but cheap)

    def apply(self, entry: dict[str, Any]) -> None:
        kind = entry["t"]
        if kind == "send":
            if entry["id"] not in self._gone:
                self.live[entry["id"]] = entry
        elif kind == "delete":
            for message_id in entry["ids"]:
                if self.live.pop(message_id, None) is None:
                    self._gone.add(message_id)
        elif kind == "hide":
            message = self.live.get(entry["id"])
            if message is not None:
                self.live[entry["id"]] = dict(message, visible_at=entry["visible_at"])
        elif kind == "drop_queue":
            for message_id in [i for i, m in self.live.items() if m["queue"] == entry["queue"]]:
                del self.live[message_id]


class DurableMoto:
    """WSGI middleware around moto's app: journals accepted writes (see the module's docstring)."""

    def __init__(self, app: Callable[..., Any], journal: Journal, *, compact_after: int = 20_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.journal = journal
        self.compact_after = compact_after
        self._clock = clock
        self._locks = {DYNAMODB: threading.Lock(), SQS: threading.Lock()}
        self._messages = Messages()
        self._receipts: OrderedDict[str, str] = OrderedDict()
        self._receipts_lock = threading.Lock()
        self._definitions: list[dict[str, Any]] = []  # the journaled requests compaction keeps
        self._compacted_size = 0
        self._compacting = threading.Lock()
        self._warned: set[str] = set()

    # --- start-up ---------------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """Replay the journal into the (empty) moto, send the surviving messages again, compact."""
        counts = {"requests": 0, "messages": 0, "failed": 0}
        for entry in self.journal.read():
            if entry["t"] == "http":
                counts["requests"] += 1
                status, _ = self._call(entry)
                if status >= 300:
                    counts["failed"] += 1
                    log.warning("journal: %s no longer succeeds on replay (HTTP %s)",
                                entry["headers"].get("X-Amz-Target"), status)
                elif self._kept_at_compaction(entry):
                    self._definitions.append(entry)
            else:
                self._messages.apply(entry)
        now = self._clock()
        survivors = list(self._messages.live.values())
        self._messages = Messages()
        for message in survivors:
            self._messages.apply(self._send_again(message, now))
        counts["messages"] = len(survivors)
        self.journal.open()
        self._compact()
        return counts

    def _send_again(self, message: dict[str, Any], now: float) -> dict[str, Any]:
        delay = max(0, min(MAX_DELAY_SECONDS, math.ceil(message["visible_at"] - now)))
        body: dict[str, Any] = {"QueueUrl": f"http://localhost/123456789012/{message['queue']}",
                                "MessageBody": message["body"], "DelaySeconds": delay}
        if message.get("attrs"):
            body["MessageAttributes"] = message["attrs"]
        status, reply = self._call({"method": "POST", "path": "/", "body": json.dumps(body), "headers": {
            "Authorization": message["auth"], "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"{SQS}.SendMessage"}})
        if status >= 300:
            raise RuntimeError(f"journal: could not queue message {message['id']} again: HTTP {status} {reply!r}")
        return dict(message, id=json.loads(reply)["MessageId"], visible_at=now + delay)

    # --- compaction ------------------------------------------------------------------------------

    @staticmethod
    def _kept_at_compaction(entry: dict[str, Any]) -> bool:
        service, _, action = entry["headers"].get("X-Amz-Target", "").partition(".")
        return not (service == DYNAMODB and action in DYNAMODB_ITEM_WRITES)

    def _compact(self) -> None:
        """Rewrite the log as the definitions, the items there now and the messages queued now.
        Callers hold every service lock (or nothing else runs yet)."""
        entries = list(self._snapshot())
        self._compacted_size = self.journal.rewrite(entries)
        log.info("journal %s: %s entries after compaction", self.journal.path, self._compacted_size)

    def _snapshot(self) -> Iterator[dict[str, Any]]:
        yield from self._definitions
        regions: dict[str, str] = {}  # region -> an Authorization header seen for it
        for entry in self._definitions:
            if entry["headers"].get("X-Amz-Target", "").startswith(DYNAMODB):
                regions.setdefault(_region(entry["headers"]["Authorization"]), entry["headers"]["Authorization"])
        for auth in regions.values():
            yield from self._items(auth)
        yield from self._messages.live.values()

    def _items(self, auth: str) -> Iterator[dict[str, Any]]:
        headers = {"Authorization": auth, "Content-Type": "application/x-amz-json-1.0"}
        tables = self._request(headers, "ListTables", {})["TableNames"]  # moto lists them all at once
        for table in tables:
            start: dict[str, Any] | None = None
            while True:
                page = self._request(headers, "Scan", {"TableName": table, **({"ExclusiveStartKey": start}
                                                                                if start else {})})
                for item in page.get("Items", []):
                    yield {"t": "http", "method": "POST", "path": "/", "body": json.dumps(
                        {"TableName": table, "Item": item}), "headers": dict(headers, **{
                            "X-Amz-Target": f"{DYNAMODB}.PutItem"})}
                start = page.get("LastEvaluatedKey")
                if not start:
                    break

    def _request(self, headers: dict[str, str], action: str, body: dict[str, Any]) -> dict[str, Any]:
        status, reply = self._call({"method": "POST", "path": "/", "body": json.dumps(body),
                                    "headers": dict(headers, **{"X-Amz-Target": f"{DYNAMODB}.{action}"})})
        if status >= 300:
            raise RuntimeError(f"journal: {action} failed during compaction: HTTP {status} {reply!r}")
        return json.loads(reply)

    def _maybe_compact(self) -> None:
        if self.journal.entries_written < max(self.compact_after, self._compacted_size):
            return
        if not self._compacting.acquire(blocking=False):
            return

        def compact() -> None:
            try:
                with self._locks[DYNAMODB], self._locks[SQS]:
                    self._compact()
            except Exception:
                log.exception("journal compaction failed; the log keeps growing until the next try")
            finally:
                self._compacting.release()

        threading.Thread(target=compact, name="journal-compaction", daemon=True).start()

    # --- requests --------------------------------------------------------------------------------

    def _call(self, entry: dict[str, Any]) -> tuple[int, bytes]:
        """Send a journaled (or made-up) request to moto itself, in process."""
        reply = Client(self.app).open(entry.get("path", "/"), method=entry.get("method", "POST"),
                                      headers=entry["headers"], data=entry["body"].encode())
        return reply.status_code, reply.get_data()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        service, _, action = target.partition(".")
        if service == DYNAMODB and action not in DYNAMODB_READS:
            return self._journaled(service, action, environ, start_response)
        if service == SQS and action not in SQS_READS:
            if action not in SQS_QUEUE_WRITES | SQS_MESSAGE_WRITES | {"ReceiveMessage"}:
                self._warn_once(action, f"SQS {action} is not kept across restarts")
                return self.app(environ, start_response)
            return self._journaled(service, action, environ, start_response)
        if not target and environ.get("REQUEST_METHOD") == "POST" and "moto-api" not in environ.get("PATH_INFO", ""):
            self._warn_once("unsigned", "a request without X-Amz-Target (not DynamoDB or SQS's JSON protocol) "
                                        "is not kept across restarts")
        return self.app(environ, start_response)

    def _journaled(self, service: str, action: str, environ: dict[str, Any],
                   start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if action == "ReceiveMessage":  # not a write, but its reply maps receipt handles to message ids
            status, headers, reply = self._run(environ)
            if status.startswith("2"):
                self._remember_receipts(reply)
            start_response(status, headers)
            return [reply]
        with self._locks[service]:
            status, headers, reply = self._run(environ)
            if status.startswith("2"):
                self.journal.append(self._entries(service, action, environ, body, reply))
        start_response(status, headers)
        self._maybe_compact()
        return [reply]

    def _run(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return chunks.append

        result = self.app(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured["status"], captured["headers"], b"".join(chunks)

    def _entries(self, service: str, action: str, environ: dict[str, Any], body: bytes,
                 reply: bytes) -> list[dict[str, Any]]:
        headers = {name: environ[key] for name in HEADERS_KEPT
                   if (key := "HTTP_" + name.upper().replace("-", "_")) in environ or
                   (key := name.upper().replace("-", "_")) in environ}
        if service == DYNAMODB or action in SQS_QUEUE_WRITES:
            entry = {"t": "http", "method": environ.get("REQUEST_METHOD", "POST"), "path": environ.get("PATH_INFO", "/"),
                     "headers": headers, "body": body.decode()}
            entries = [entry]
            if action in ("PurgeQueue", "DeleteQueue"):
                entries.append({"t": "drop_queue", "queue": queue_name(json.loads(body)["QueueUrl"])})
            if self._kept_at_compaction(entry):
                self._definitions.append(entry)
            for item in entries[1:]:
                self._messages.apply(item)
            return entries
        return self._message_entries(action, json.loads(body), json.loads(reply), headers.get("Authorization", ""))

    def _message_entries(self, action: str, request: dict[str, Any], reply: dict[str, Any],
                         auth: str) -> list[dict[str, Any]]:
        now = self._clock()
        queue = queue_name(request.get("QueueUrl", ""))
        entries: list[dict[str, Any]] = []
        if action == "SendMessage":
            entries.append(self._sent(queue, request, reply["MessageId"], now, auth))
        elif action == "SendMessageBatch":
            by_id = {e["Id"]: e for e in request.get("Entries", [])}
            entries += [self._sent(queue, by_id[ok["Id"]], ok["MessageId"], now, auth)
                        for ok in reply.get("Successful", [])]
        elif action == "DeleteMessage":
            entries.append({"t": "delete", "ids": self._ids([request["ReceiptHandle"]])})
        elif action == "DeleteMessageBatch":
            by_id = {e["Id"]: e["ReceiptHandle"] for e in request.get("Entries", [])}
            entries.append({"t": "delete", "ids": self._ids([by_id[ok["Id"]] for ok in reply.get("Successful", [])])})
        elif action == "ChangeMessageVisibility":
            entries += self._hidden([(request["ReceiptHandle"], request["VisibilityTimeout"])], now)
        elif action == "ChangeMessageVisibilityBatch":
            by_id = {e["Id"]: (e["ReceiptHandle"], e["VisibilityTimeout"]) for e in request.get("Entries", [])}
            entries += self._hidden([by_id[ok["Id"]] for ok in reply.get("Successful", [])], now)
        entries = [e for e in entries if e.get("ids", True)]
        for entry in entries:
            self._messages.apply(entry)
        return entries

    @staticmethod
    def _sent(queue: str, request: dict[str, Any], message_id: str, now: float, auth: str) -> dict[str, Any]:
        entry = {"t": "send", "queue": queue, "id": message_id, "body": request["MessageBody"],
                 "visible_at": now + int(request.get("DelaySeconds") or 0), "auth": auth}
        if request.get("MessageAttributes"):
            entry["attrs"] = request["MessageAttributes"]
        return entry

    def _hidden(self, changes: list[tuple[str, Any]], now: float) -> list[dict[str, Any]]:
        found = self._ids_by_receipt([receipt for receipt, _ in changes])
        return [{"t": "hide", "id": found[receipt], "visible_at": now + int(timeout)}
                for receipt, timeout in changes if receipt in found]

    def _ids(self, receipts: list[str]) -> list[str]:
        found = self._ids_by_receipt(receipts, forget=True)
        return [found[r] for r in receipts if r in found]

    def _ids_by_receipt(self, receipts: list[str], forget: bool = False) -> dict[str, str]:
        with self._receipts_lock:
            found = {r: self._receipts[r] for r in receipts if r in self._receipts}
            if forget:
                for receipt in found:
                    del self._receipts[receipt]
        return found

    def _remember_receipts(self, reply: bytes) -> None:
        messages = json.loads(reply or b"{}").get("Messages", [])
        with self._receipts_lock:
            for message in messages:
                self._receipts[message["ReceiptHandle"]] = message["MessageId"]
            while len(self._receipts) > RECEIPTS_KEPT:
                self._receipts.popitem(last=False)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("journal: %s", message)


def _region(authorization: str) -> str:
    try:
        return authorization.split(",")[0].split()[1].split("/")[2]
    except IndexError:
        return "us-east-1"
