"""Settling, counting and reporting a phase."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import random
import time
from datetime import datetime

from .cluster import Cluster
from .ledger import answer_of, Job, Ledger
from .load import error_kind, PhaseStats
from .net import http, TransportError
from .receiver import WebhookReceiver

# Settling and counting.


async def settle(jobs: list[Job], cluster: Cluster, deadline: float, stats: PhaseStats, concurrency: int = 64) -> None:
    """Waits (long-poll) until each accepted job has ended, then reads its answer on every gateway
    and its record on each. What polling clients would have seen go wrong (an accepted job
    answered 404 unknown-job, a 503, a transport error) is counted under "polling"."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(job: Job) -> None:
        async with semaphore:
            gateways = cluster.gateways[:]
            random.shuffle(gateways)
            while time.monotonic() < deadline:
                wait = max(1, min(10, int(deadline - time.monotonic())))
                try:
                    response = await http(gateways[0], "GET", f"/v1/jobs/{job.id}/result", {"Prefer": f"wait={wait}"}, timeout=wait + 10)
                except TransportError as error:
                    stats.errors["polling"][error.kind] += 1
                    await asyncio.sleep(0.5)
                    continue
                if response.status == 202:
                    continue
                if response.problem_type() in ("/problems/unknown-job", "/problems/unavailable"):
                    # unknown-job for a job the client saw accepted (a stale replica?): look again
                    stats.errors["polling"][error_kind(response)] += 1
                    await asyncio.sleep(0.5)
                    continue
                break
            else:
                await read_back(job, cluster, "deadline")  # shows the state it is stuck in
                job.state = f"not ended in time ({job.state or 'unknown'})"
                return
            await read_back(job, cluster, "settle")

    await asyncio.gather(*(one(job) for job in jobs if job.id))


TERMINAL = ("succeeded", "failed", "cancelled", "expired")


async def read_back(job: Job, cluster: Cluster, label: str) -> None:
    """Reads the job's answer and record on every gateway. A read that shows an ended job unknown
    or unfinished again is a stale read (counted apart: not an answer, not a state). A 503
    `unavailable` (the store did not answer in time, under the box's load) is no answer either:
    it is tried again, as a transport error is, and counted a stale read when it persists."""
    for i, gateway in enumerate(cluster.gateways):
        for attempt in range(3):
            try:
                result = await http(gateway, "GET", f"/v1/jobs/{job.id}/result", timeout=10)
                status = await http(gateway, "GET", f"/v1/jobs/{job.id}", timeout=10)
            except TransportError:
                await asyncio.sleep(0.5)
                continue
            if "/problems/unavailable" in (result.problem_type(), status.problem_type()):
                if attempt == 2:
                    job.stale_reads += 1
                await asyncio.sleep(0.5)
                continue
            ended = job.state in TERMINAL
            if result.problem_type() == "/problems/unknown-job" or (result.status == 202 and ended):
                job.stale_reads += 1
            elif result.status != 202:
                job.reads.append((f"{label}@gateway-{i + 1}", answer_of(result)))
            state = json.loads(status.body).get("state", "") if status.status == 200 else f"http-{status.status}"
            if ended and state not in TERMINAL:
                job.stale_reads += 1
            elif status.status == 200:
                record = json.loads(status.body)
                job.state, job.attempts = state, int(record.get("attempts") or 0)
                if state in TERMINAL:
                    job.records.append({k: record.get(k) for k in ("state", "status", "finishedAt", "worker")})
            else:
                job.state = state
            break


async def read_all(jobs: list[Job], cluster: Cluster, label: str, concurrency: int = 64) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(job: Job) -> None:
        async with semaphore:
            await read_back(job, cluster, label)

    await asyncio.gather(*(one(job) for job in jobs if job.id))


def webhook_answer(event: dict) -> tuple | None:
    answer = (event.get("data") or {}).get("answer")
    if not answer:
        return None
    if "bodyBase64" in answer:
        body = base64.b64decode(answer["bodyBase64"])
    else:
        body = (answer.get("body") or "").encode()
    return (answer.get("status"), answer.get("contentType") or "", body)


@dataclasses.dataclass
class Counts:
    accepted: int = 0
    finished: int = 0
    lost: list = dataclasses.field(default_factory=list)  # (job, reason)
    duplicated: dict = dataclasses.field(default_factory=dict)  # job seq -> reasons
    webhooks_expected: int = 0
    webhooks_delivered: int = 0
    redelivered: int = 0


def count(jobs: list[Job], ledger: Ledger, receiver: WebhookReceiver) -> Counts:
    counts = Counts()
    for job in jobs:
        if not job.id:
            continue
        counts.accepted += 1
        if job.attempts >= 2:
            counts.redelivered += 1
        dup = []
        answers = {read for _, read in job.reads}
        deliveries = receiver.deliveries.get(job.id, [])
        for delivery in deliveries:
            answer = webhook_answer(delivery["event"])
            if answer is not None:
                answers.add(answer)
        if len(answers) > 1:
            dup.append("answer-changed")
        if len({json.dumps(r, sort_keys=True) for r in job.records}) > 1:
            dup.append("record-changed")
        for answer in answers:
            other = ledger.by_body.get(answer[2])
            if job.service == "echo" and other is not None and other is not job:
                dup.append(f"crossed-answer(job {other.seq})")
        if len(deliveries) > 1:
            dup.append(f"webhook-duplicate(x{len(deliveries)})")
        if deliveries and job.answered_sync:
            dup.append("webhook-unwanted")
        if dup:
            counts.duplicated[job.seq] = dup

        # A webhook is due when the client's own call ended with 202 (it did not get the answer).
        expects_webhook = job.callback and job.first == "202"
        if expects_webhook:
            counts.webhooks_expected += 1
            counts.webhooks_delivered += 1 if deliveries else 0
        reads = [read for source, read in job.reads if source != "sync"]
        if job.state != "succeeded":
            counts.lost.append((job, f"state {job.state or 'unknown'}"))
        elif not reads:
            counts.lost.append((job, "answer never read"))
        elif any(read != job.expected for _, read in job.reads):
            counts.lost.append((job, "wrong answer"))
        elif expects_webhook and not deliveries:
            counts.lost.append((job, "webhook-missing"))
        else:
            counts.finished += 1
    return counts


def percentile(values: list, p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def shown(answer: tuple) -> str:
    status, ctype, body = answer
    text = body[:120].decode("utf-8", "replace") + ("…" if len(body) > 120 else "")
    return f"{status} {ctype or '-'} {text!r} ({len(body)} bytes)"


def describe(job: Job, receiver: WebhookReceiver) -> None:
    """What a failed job's client saw: the right answer, each answer read and where, the records
    read at its end and the webhooks delivered — so that a failure says what went wrong."""
    print(f"    expected: {shown(job.expected)}; state {job.state or '?'}, attempts {job.attempts},"
          f" accepted by {job.accepted_by}, idempotent {job.idempotency_key is not None}, retries {job.retries}")
    sources: dict[tuple, list[str]] = {}
    for source, answer in job.reads:
        sources.setdefault(answer, []).append(source)
    for delivery in receiver.deliveries.get(job.id, []):
        answer = webhook_answer(delivery["event"])
        if answer is not None:
            sources.setdefault(answer, []).append(f"webhook ({delivery['event'].get('type', '?')})")
    for answer, where in sources.items():
        print(f"    read {'(right)' if answer == job.expected else '(WRONG)'} {shown(answer)} from {', '.join(where)}")
    for record in {json.dumps(r, sort_keys=True) for r in job.records}:
        print(f"    record: {record}")


def report(stats: PhaseStats, counts: Counts, receiver: WebhookReceiver, jobs: list[Job]) -> bool:
    lost = len(counts.lost)
    duplicated = len(counts.duplicated)
    print(f"\n=== {stats.name}")
    print(f"accepted {counts.accepted}, finished {counts.finished}, lost {lost}, duplicated-effects {duplicated}")
    total = stats.load_calls
    print(f"  steady load: {total} durable calls in {stats.load_seconds:.1f} s = {total / max(stats.load_seconds, 0.001):.1f} calls/s"
          f" (+ {sum(stats.fast.values())} fast-lane calls); redelivered jobs (attempts >= 2): {counts.redelivered}")
    stale = sum(job.stale_reads for job in jobs)
    if stale:
        stats.errors["polling"]["stale-read"] += stale
    if stats.errors.get("polling"):
        print(f"  polling accepted jobs (GET /v1/jobs/{{id}}/result until they end): errors {dict(stats.errors['polling'])}")
    for group in sorted(stats.submitted):
        latencies = stats.latencies[group]
        errors = dict(stats.errors[group]) or "none"
        recovered = f", accepted on an idempotent retry: {stats.recovered[group]}" if stats.recovered[group] else ""
        print(f"  clients of {group}: {stats.submitted[group]} calls, errors {errors}{recovered};"
              f" latency p50 {percentile(latencies, .5) * 1000:.0f} ms, p99 {percentile(latencies, .99) * 1000:.0f} ms,"
              f" max {max(latencies, default=0) * 1000:.0f} ms")
    if stats.fast:
        print(f"  fast lane (echo-fast, not durable by design, not counted): {dict(stats.fast)}")
    print(f"  webhooks: expected {counts.webhooks_expected}, delivered {counts.webhooks_delivered},"
          f" signature rejected {receiver.rejected}")
    for kind, detail in sorted(stats.samples.items()):
        print(f"  e.g. {kind}: {detail}")
    for note in stats.notes:
        print(f"  {note}")
    for job, reason in counts.lost[:10]:
        print(f"  LOST job {job.id} ({job.service} {job.mode} via {job.group}, first answer {job.first}): {reason}")
        describe(job, receiver)
    for seq, reasons in list(counts.duplicated.items())[:10]:
        job = next(j for j in jobs if j.seq == seq)
        print(f"  DUPLICATED job {job.id} ({job.service} {job.mode}): {', '.join(reasons)}")
        if not any(lost is job for lost, _ in counts.lost):
            describe(job, receiver)
    for failure in stats.failures[:10]:
        print(f"  CHECK FAILED: {failure}")
    ok = lost == 0 and duplicated == 0 and not stats.failures
    print(f"  => {'ok' if ok else 'FAILED'}")
    return ok


async def queued_for_ever(cluster: Cluster, older_than: float = 60.0) -> list[str]:
    """The records that still say `queued` with the load stopped and every accepted job finished,
    though made more than `older_than` seconds ago: each one a job no queue holds (a gateway
    killed between a record written before the publish and the publish; PROTOCOL.md §6.6).
    Pages through `GET /v1/jobs?state=queued`, then reads each candidate again (a replica that
    lags can show an older revision) before it counts."""
    now = time.time()
    candidates: list[str] = []
    path, pages = "/v1/jobs?state=queued&limit=100", 0
    while path and pages < 100:
        response = await http(cluster.gateways[0], "GET", path, timeout=30)
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {response.body[:200]!r}")
        page = json.loads(response.body)
        for job in page.get("jobs", []):
            created = datetime.fromisoformat(job["createdAt"].replace("Z", "+00:00")).timestamp()
            if now - created > older_than:
                candidates.append(job["id"])
        path, pages = page.get("next"), pages + 1

    async def still_queued(id: str) -> bool:
        for attempt in range(3):
            if attempt:
                await asyncio.sleep(1)
            response = await http(random.choice(cluster.gateways), "GET", f"/v1/jobs/{id}", timeout=10)
            if response.status != 200 or json.loads(response.body).get("state") != "queued":
                return False
        return True

    return [id for id, queued in zip(candidates, await asyncio.gather(*(still_queued(id) for id in candidates))) if queued]

