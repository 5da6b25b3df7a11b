"""A model, not a measurement: the midnight herd on AWS, N fires due in the same second, for the
per-fire design (one SQS message per fire) and the bucket design (25 fires per message).

    python -m bench.aws_model [--fires 10000,100000] [--json FILE]

Nothing here runs on AWS. It simulates, in steps of 10 ms, what AWS documents and what this
repository measured, with every figure it uses named below so that anyone can redo it:

SQS (delay visibility): the tick sends the second's messages minutes ahead with DelaySeconds, so
all of them turn visible together, XTIMER_EARLY_SECONDS (1) to 2 s before the second; the model
takes the middle, 1.5 s.

Lambda's SQS event source mapping (AWS Lambda Developer Guide, "Configuring scaling behavior for
SQS event source mappings", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html):
"When messages are available, Lambda starts processing five batches at a time with five
concurrent invocations of your function. If messages are still available, Lambda increases the
number of processes that are reading batches by up to 300 more instances per minute. The maximum
number of batches that an event source mapping can process simultaneously is 1,000." Older
versions of that page said 60 more per minute; the model runs both (`scale_per_minute` 300 and
60). Account concurrency: 1,000 (the default Lambda quota), so at most 1,000 invocations.
Batch size: 10 messages (app.py). A new concurrent invocation starts cold: COLD_START_S.

The worker, per invocation: the AWS calls' latencies (assumed, DynamoDB's "single-digit
millisecond" requests: DDB_S each; a callback's answer: CALLBACK_S), and the worker's own CPU per
fire (measured on the local stack: bench.throughput's worker CPU per callback, both designs, on
this machine) scaled to the CPU a 256 MB Lambda gets (Lambda allocates CPU in proportion to
memory, one vCPU at 1,769 MB: 256/1,769 of a vCPU). A fire's callback starts once its claim is
through and its second has come; an invocation ends when its last outcome is written.

per fire:  receive -> GetItem -> claim -> wait for the second -> call -> UpdateItem
bucket:    receive -> BatchGetItem -> claims (all at once) -> wait -> calls (all at once) -> BatchWriteItem

What it leaves out: SQS's own receive latency beyond POLL_S, throttling, Lambda's burst limits
per region other than the account quota, retries. It predicts lateness of the first call of
each fire (p50, p99, max) and the invocations used.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STEP_S = 0.01
VISIBLE_BEFORE_S = 1.5
INITIAL_BATCHES = 5
ACCOUNT_CONCURRENCY = 1000
MAX_BATCHES = 1000
BATCH_SIZE = 10
COLD_START_S = 0.8          # assumed: a Python 3.11 Lambda's init plus the service's imports
POLL_S = 0.02               # assumed: a poller's ReceiveMessage round trip before an invocation
DDB_S = 0.008               # assumed: one DynamoDB request
CALLBACK_S = 0.05           # assumed: the receiver's answer
LAMBDA_VCPU = 256 / 1769    # the worker's 256 MB (.chalice/config.json): a seventh of a vCPU
PER_FIRE_CPU_MS = 8.7
"""The per-fire design's worker CPU per fire, measured: `python -m bench.throughput --tick-timers
500 --worker-fires 300` on commit c083baf, this 2-core machine while shared (2026-12-01): 2.6 s
of worker CPU for 300 callbacks. (The bucket design, same command and hour: 1.5 s, 5.0 ms.)"""


@dataclass(frozen=True)
class Design:
    name: str
    fires_per_message: int
    cpu_ms_per_fire: float      # the worker's CPU per fire, measured on the local stack
    pre_call_requests: int      # sequential DynamoDB round trips before a call (read, claim)
    post_call_requests: int     # after it (the outcome write)
    memory_mb: int = 256        # the worker's memory: Lambda's CPU share follows it
    batch_size: int = BATCH_SIZE  # messages per invocation (the event source mapping's BatchSize)


def designs(cpu_old_ms: float, cpu_new_ms: float) -> list[Design]:
    return [Design("per fire (1 fire per message), 256 MB", 1, cpu_old_ms, 2, 1),
            Design("buckets (25 fires per message), 256 MB", 25, cpu_new_ms, 2, 1),
            Design("buckets, worker at 1,769 MB (1 vCPU)", 25, cpu_new_ms, 2, 1, memory_mb=1769),
            Design("buckets, 256 MB, batch size 1", 25, cpu_new_ms, 2, 1, batch_size=1)]


def concurrency(since_visible: float, scale_per_minute: float) -> int:
    return int(min(INITIAL_BATCHES + scale_per_minute * since_visible / 60, MAX_BATCHES, ACCOUNT_CONCURRENCY))


def simulate(fires: int, design: Design, scale_per_minute: float) -> dict[str, Any]:
    """Lateness of each fire's call (s after its second) and the invocations used."""
    messages = math.ceil(fires / design.fires_per_message)
    batches = [min(design.batch_size, messages - i) for i in range(0, messages, design.batch_size)]
    due = VISIBLE_BEFORE_S  # time 0 = messages visible; the second is VISIBLE_BEFORE_S later
    cpu_s = design.cpu_ms_per_fire / 1000 / min(1.0, design.memory_mb / 1769)
    busy_until: list[float] = []  # one per concurrent invocation slot opened so far
    lateness: list[float] = []
    next_batch = 0
    t = 0.0
    invocations = 0
    while next_batch < len(batches):
        allowed = concurrency(t, scale_per_minute)
        while len(busy_until) < allowed:
            busy_until.append(-COLD_START_S)  # a new slot: its first invocation starts cold
        for slot, free_at in enumerate(busy_until):
            if next_batch >= len(batches) or free_at > t:
                continue
            cold = free_at < 0
            start = t + POLL_S + (COLD_START_S if cold else 0.0)
            in_batch = batches[next_batch] * design.fires_per_message
            in_batch = min(in_batch, fires - sum(batches[:next_batch]) * design.fires_per_message)
            next_batch += 1
            invocations += 1
            claimed = start + design.pre_call_requests * DDB_S
            # one process: CPU is spent one fire after another (the GIL), waits overlap
            for k in range(in_batch):
                call_at = max(due, claimed + (k + 1) * cpu_s)
                lateness.append(max(0.0, call_at - due))
            busy_until[slot] = max(due, claimed + in_batch * cpu_s) + CALLBACK_S + design.post_call_requests * DDB_S
        t = round(t + STEP_S, 6)
    lateness.sort()

    def pct(p: float) -> float:
        return round(lateness[min(len(lateness) - 1, int(p * len(lateness)))] * 1000)

    return {"fires": fires, "design": design.name, "scale_per_minute": scale_per_minute,
            "messages": messages, "invocations": invocations,
            "lateness_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": round(lateness[-1] * 1000)}}


def run(fire_counts: list[int], cpu_old_ms: float, cpu_new_ms: float) -> dict[str, Any]:
    rows = [simulate(n, d, rate) for n in fire_counts for rate in (300, 60) for d in designs(cpu_old_ms, cpu_new_ms)]
    return {"benchmark": "aws_model", "model": True, "rows": rows,
            "designs": [asdict(d) for d in designs(cpu_old_ms, cpu_new_ms)],
            "figures": {"visible_before_s": VISIBLE_BEFORE_S, "initial_batches": INITIAL_BATCHES,
                        "scale_per_minute": "300 (AWS Lambda Developer Guide, services-sqs-scaling, today); "
                                            "60 (the same page, older versions)",
                        "max_batches": MAX_BATCHES, "account_concurrency": ACCOUNT_CONCURRENCY,
                        "batch_size": BATCH_SIZE, "cold_start_s (assumed)": COLD_START_S,
                        "poll_s (assumed)": POLL_S, "dynamodb_request_s (assumed)": DDB_S,
                        "callback_s (assumed)": CALLBACK_S, "lambda_vcpu_at_256_mb": round(LAMBDA_VCPU, 3)}}


def markdown(result: dict[str, Any]) -> str:
    lines = ["| fires due in one second | pollers scale by | design | messages | invocations | "
             "late p50 | late p99 | late max |", "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lat = r["lateness_ms"]
        lines.append(f"| {r['fires']:,} | +{r['scale_per_minute']}/min | {r['design']} | {r['messages']:,} | "
                     f"{r['invocations']:,} | {lat['p50']:,} ms | {lat['p99']:,} ms | {lat['max']:,} ms |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.aws_model", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--fires", default="10000,100000", help="fires due in the same second, comma-separated")
    p.add_argument("--cpu-old-ms", type=float, default=None,
                   help="the per-fire worker's CPU per fire (ms; default: PER_FIRE_CPU_MS, measured on c083baf)")
    p.add_argument("--cpu-new-ms", type=float, default=None, help="the bucket worker's CPU per fire (ms, measured)")
    p.add_argument("--json", type=Path, default=None, help="write the result here")
    return p.parse_args(argv)




def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cpu_new_ms is None:
        raise SystemExit("give --cpu-new-ms: the worker's CPU per fire measured on this machine "
                         "(bench.throughput reports worker CPU s and callbacks)")
    result = run([int(n) for n in args.fires.split(",") if n], args.cpu_old_ms or PER_FIRE_CPU_MS, args.cpu_new_ms)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("A model, not a measurement (see `python -m bench.aws_model --help` and the module's docstring).")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
