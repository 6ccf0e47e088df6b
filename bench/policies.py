"""Time `policies.decide` for a client with ten years of contact history.

Run: `python -m bench.policies [--runs N]`. Prints the median and 95th percentile and writes
(or replaces) the "Policy decisions" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.report import DOC, write_section
from policies import (
    Approval,
    ChecklistAnswer,
    ClientFacts,
    ContactFact,
    ContactKind,
    ContactOutcome,
    Facts,
    ProposedSession,
    RoshLevel,
    SafeguardingFlag,
    decide,
    load_default_policy,
)

HEADING = "Policy decisions"
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def history(years: int = 10, seed: int = 7) -> tuple[ContactFact, ...]:
    """Weekly-ish contacts: every 5-9 days, a third remote, one in eight not attended."""
    rng = random.Random(seed)
    at = NOW - timedelta(days=365 * years)
    kinds = [ContactKind.FACE_TO_FACE] * 4 + [ContactKind.VIDEO, ContactKind.PHONE]
    outcomes = [ContactOutcome.ATTENDED] * 7 + [ContactOutcome.FAILED_TO_ATTEND]
    contacts = []
    while at < NOW - timedelta(days=1):
        contacts.append(ContactFact(kind=rng.choice(kinds), happened_at=at,
                                    practitioner_id=rng.choice([10, 10, 10, 11]),
                                    outcome=rng.choice(outcomes)))
        at += timedelta(days=rng.randint(5, 9), hours=rng.randint(-3, 3))
    rng.shuffle(contacts)  # the store need not return them in order
    return tuple(contacts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()

    policy = load_default_policy()
    contacts = history()
    client = ClientFacts(client_id=1, practitioner_id=10, rosh_level=RoshLevel.VERY_HIGH,
                         mappa_level=2, safeguarding_flags=frozenset(
                             {SafeguardingFlag.DOMESTIC_ABUSE, SafeguardingFlag.CHILD_IN_NEED}),
                         allocated_at=NOW - timedelta(days=900))
    approvals = tuple(Approval(client_id=1, supervisor_id=20, rationale="Reviewed monthly.",
                               granted_at=NOW - timedelta(days=30 * i + 1),
                               expires_at=NOW - timedelta(days=30 * i - 29))
                      for i in range(40))
    answers = tuple(ChecklistAnswer(i.role, i.id, i.safe_answer) for i in policy.checklists.items
                    if i.role.value in ("client", "practitioner_premises"))
    facts = Facts(client=client, now=NOW, contacts=contacts, approvals=approvals,
                  session=ProposedSession(remote=True, starts_at=NOW + timedelta(days=2),
                                          practitioner_id=10),
                  checklist_answers=answers)

    for _ in range(200):  # warm up
        decide(facts, policy)
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        decide(facts, policy)
        timings.append(time.perf_counter() - start)
    timings.sort()
    median = statistics.median(timings) * 1000
    p95 = timings[int(len(timings) * 0.95) - 1] * 1000
    worst = timings[-1] * 1000
    outcome = decide(facts, policy).outcome.value
    print(f"decide(): {len(contacts)} contacts, {len(approvals)} approvals, {args.runs} runs: "
          f"median {median:.3f} ms, p95 {p95:.3f} ms, max {worst:.3f} ms ({outcome})")
    if not args.no_write:
        write(len(contacts), len(approvals), args.runs, median, p95, worst)


def write(contacts: int, approvals: int, runs: int, median: float, p95: float,
          worst: float) -> None:
    body = "\n".join([
        "`python -m bench.policies` times `policies.decide` for one client with ten years of",
        f"weekly-ish contact history ({contacts} contacts, shuffled, an eighth not attended),",
        f"{approvals} past approvals, every risk factor that adds work, and checklist answers.",
        "The target is a few milliseconds per decision.",
        "",
        "| runs | median | p95 | max |",
        "|---|---|---|---|",
        f"| {runs} | {median:.3f} ms | {p95:.3f} ms | {worst:.3f} ms |",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}. `decide` makes one pass over the",
        "contacts, so the cost grows linearly with history; the whole history fits the budget",
        "many times over, so callers pass it all rather than trimming it.",
    ])
    write_section(HEADING, body)
    print(f"updated {DOC}")


if __name__ == "__main__":
    main()
