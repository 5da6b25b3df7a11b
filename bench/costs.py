"""What a million fires cost: xtimer (from bench.scale's counted requests), Amazon EventBridge
Scheduler, and a Step Functions design that waits in a Wait state, at public on-demand prices.

xtimer's figures are measured (bench.scale counts every AWS call of the minute path); the other two
are models from the services' published prices, with their assumptions written out below and in
the report, so that anyone can redo the arithmetic.

Step Functions, the design: one execution per timer, a loop

    Wait (TimestampPath: the next fire) -> Task (HTTP Task, or a Lambda invoke, calling the
    callback) -> Choice (another fire?) -> back to Wait

Each state entered is one state transition; Standard workflows are billed per transition.
Express workflows are billed by duration instead but run for at most 5 minutes, so a timer that
waits longer than that needs a Standard workflow. Per fire: Wait 1 + Task 1 + Choice 1 = 3
transitions (a one-shot timer: 2, without the Choice). A cron timer needs its next fire time
computed (Step Functions' intrinsic functions cannot read a cron): one more Task, a Lambda,
per fire. A Standard execution's history is capped at 25,000 events, so a long-lived timer
restarts itself now and then (StartExecution); that is a fraction of a transition per fire and
is left out. Free tiers are left out everywhere.
"""
from __future__ import annotations

from typing import Any

# Public on-demand prices, us-east-1 (checked 2026-11).
STEP_FUNCTIONS_STANDARD_PER_TRANSITION = 0.025 / 1000   # $0.025 per 1,000 state transitions
EVENTBRIDGE_SCHEDULER_PER_INVOCATION = 1.00 / 1e6       # $1.00 per million scheduled invocations
LAMBDA_PER_REQUEST = 0.20 / 1e6                          # $0.20 per million requests
LAMBDA_PER_GB_SECOND_X86 = 0.0000166667                  # $ per GB-second, x86
EXPRESS_MAX_DURATION_S = 5 * 60                          # Express workflows end after 5 minutes

# Transitions per fire of the Step Functions design (see the module's docstring).
SFN_STATES_PER_FIRE = {"Wait": 1, "Task (HTTP Task or Lambda invoke: the callback)": 1, "Choice (loop)": 1}
SFN_NEXT_FIRE_LAMBDA = {"memory_mb": 128, "duration_ms": 20}  # the cron variant's Lambda: next fire time

MILLION = 1_000_000


def step_functions(states: dict[str, int] | None = None, *, next_fire_lambda: bool = False) -> dict[str, Any]:
    """$ per million fires of the Wait-state design, with the arithmetic as text."""
    states = dict(SFN_STATES_PER_FIRE if states is None else states)
    lines = []
    if next_fire_lambda:
        states["Task (Lambda: the next cron fire time)"] = 1
    transitions = sum(states.values())
    transitions_usd = transitions * STEP_FUNCTIONS_STANDARD_PER_TRANSITION * MILLION
    lines.append(f"{' + '.join(f'{n} {s}' for s, n in states.items())} = {transitions} transitions per fire; "
                 f"{transitions} x $0.025 / 1,000 x 1,000,000 = ${transitions_usd:.2f} per million fires")
    lambda_usd = 0.0
    if next_fire_lambda:
        gb_s = SFN_NEXT_FIRE_LAMBDA["memory_mb"] / 1024 * SFN_NEXT_FIRE_LAMBDA["duration_ms"] / 1000
        lambda_usd = (LAMBDA_PER_REQUEST + gb_s * LAMBDA_PER_GB_SECOND_X86) * MILLION
        lines.append(f"+ the next-fire Lambda: $0.20 per million requests + {SFN_NEXT_FIRE_LAMBDA['memory_mb']} MB x "
                     f"{SFN_NEXT_FIRE_LAMBDA['duration_ms']} ms = {gb_s:.6f} GB-s x $0.0000166667 per GB-s "
                     f"= ${lambda_usd:.2f} per million fires")
    return {"transitions_per_fire": transitions, "states": states,
            "usd_per_million_fires": round(transitions_usd + lambda_usd, 2), "arithmetic": lines}


def eventbridge_scheduler() -> dict[str, Any]:
    usd = EVENTBRIDGE_SCHEDULER_PER_INVOCATION * MILLION
    return {"usd_per_million_fires": round(usd, 2),
            "arithmetic": [f"1 invocation per fire x $1.00 per million = ${usd:.2f} per million fires"]}


def xtimer(per_fire: dict[str, Any]) -> dict[str, Any]:
    """xtimer's requests by service and $ per million fires, from one bench.scale run's `per_fire`."""
    cost = per_fire["usd_per_million_fires"]
    return {
        "requests_per_fire": {"DynamoDB": round(per_fire["dynamodb_requests"], 3),
                              "SQS": round(per_fire["sqs_requests"], 3),
                              "Lambda invocations": round(per_fire["invocations"], 3)},
        "units_per_fire": {"WRU": round(per_fire["wru"], 3), "RRU": round(per_fire["rru"], 3),
                           "Lambda GB-s": round(per_fire["gb_s"], 4)},
        "usd_by_part": {k: round(v, 2) for k, v in cost.items() if k != "total"},
        "usd_per_million_fires": round(cost["total"], 2),
    }


def compare(xtimer_runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every design's $ per million fires, xtimer's per scale scenario."""
    return {
        "xtimer": {label: xtimer(pf) for label, pf in xtimer_runs.items()},
        "eventbridge_scheduler": eventbridge_scheduler(),
        "step_functions_standard": step_functions(),
        "step_functions_standard_cron": step_functions(next_fire_lambda=True),
        "assumptions": [
            "us-east-1 on-demand prices, no free tier",
            "Step Functions: Standard workflows (Express ones end after 5 minutes, shorter than most timers' waits); "
            "one execution per timer looping Wait -> Task -> Choice; every state entered is a billed transition",
            "Step Functions cron variant: a Lambda computes the next fire time (128 MB, 20 ms)",
            "the occasional restart of a long-lived execution (history capped at 25,000 events) is left out",
        ],
    }
