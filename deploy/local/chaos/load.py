"""The steady load: submitting jobs, with per-phase statistics."""

from __future__ import annotations

import asyncio
import collections
import json
import random
import re
import time
import uuid

from .ledger import answer_of, Job, Ledger
from .net import http, Response, TransportError
from .receiver import WebhookReceiver

# Submitting, with per-phase statistics.

SYNC_WAIT = 10  # Prefer: wait=10 (the gateways' default wait)
RETRYABLE = ("connection-refused", "connection-reset", "connection-closed", "timeout", "http-502", "http-504",
             "503-unavailable", "os-error")


class PhaseStats:
    def __init__(self, name: str):
        self.name = name
        self.started = time.monotonic()
        self.submitted = collections.Counter()  # group -> requests
        self.errors = collections.defaultdict(collections.Counter)  # group -> kind -> count
        self.latencies = collections.defaultdict(list)  # group -> seconds
        self.fast = collections.Counter()  # fast-lane outcomes (not counted: not durable by design)
        self.recovered = collections.Counter()  # group -> jobs accepted on an idempotent retry
        self.load_seconds = 0.0
        self.samples: dict[str, str] = {}  # error kind -> one problem detail seen
        self.load_calls = 0  # calls of the steady load (not the burst)
        self.failures: list[str] = []  # failed checks
        self.notes: list[str] = []

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)


def error_kind(response: Response) -> str:
    kind = response.problem_type().rsplit("/", 1)[-1]
    if response.status == 503 and kind:
        return f"503-{kind}"
    return f"http-{response.status}" + (f"-{kind}" if kind else "")


async def submit(job: Job, route: list[str], stats: PhaseStats, receiver: WebhookReceiver,
                 wait: int = SYNC_WAIT, retries: int = 6) -> None:
    """POSTs the job to route[0]; idempotent jobs are retried on route[-1] after a transport error,
    a 502/504 or a 503 unavailable, as a careful client would."""
    headers = {"Content-Type": job.content_type, "Prefer": "respond-async" if job.mode == "async" else f"wait={wait}"}
    if job.callback:
        headers["Callback-Url"] = receiver.url
    if job.idempotency_key:
        headers["Idempotency-Key"] = job.idempotency_key
    timeout = 15.0 if job.mode == "async" else wait + 15.0
    started = time.monotonic()
    stats.submitted[job.group] += 1
    for attempt in range(retries + 1 if job.idempotency_key else 1):
        base = route[0] if attempt == 0 else route[-1]
        kind = None
        try:
            response = await http(base, "POST", f"/v1/jobs/{job.service}", headers, job.body, timeout)
        except TransportError as error:
            kind = error.kind
        else:
            if response.status in (200, 202) or response.problem_type() == "/problems/job-failed":
                job.id = response.headers.get("baton-job-id") or response.headers.get("location", "").rsplit("/", 1)[-1] or None
                job.accepted_by = base
                if attempt == 0:
                    job.first = str(response.status)
                    job.answered_sync = response.status != 202
                else:
                    stats.recovered[job.group] += 1
                if response.status == 202 and not response.headers.get("location"):
                    stats.check(False, f"202 without Location for job {job.id}")
                if response.status != 202:
                    job.reads.append(("sync", answer_of(response)))
                job.retries = attempt
                break
            kind = error_kind(response)
            if kind not in stats.samples:
                try:
                    stats.samples[kind] = str(json.loads(response.body).get("detail", ""))[:160]
                except ValueError:  # e.g. nginx's HTML error page
                    stats.samples[kind] = " ".join(re.sub(r"<[^>]*>", " ", response.body.decode("utf-8", "replace")).split())[:160]
            if kind == "503-queue-full" and not response.headers.get("retry-after"):
                stats.check(False, "503 queue-full without Retry-After")
        if attempt == 0:
            job.first = kind
            job.latency = time.monotonic() - started
            stats.errors[job.group][kind] += 1
        if not any(kind.startswith(prefix) for prefix in RETRYABLE):
            break
        await asyncio.sleep(0.5)
    if job.latency == 0.0:
        job.latency = time.monotonic() - started
    stats.latencies[job.group].append(job.latency)


async def fast_call(group: str, base: str, stats: PhaseStats) -> None:
    """A fast-lane call (echo-fast): not durable by design, so reported apart and not settled."""
    body = f"fast {uuid.uuid4().hex}".encode()
    try:
        response = await http(base, "POST", "/v1/jobs/echo-fast", {"Content-Type": "text/plain", "Prefer": f"wait={SYNC_WAIT}"},
                              body, SYNC_WAIT + 15.0)
    except TransportError as error:
        stats.fast[f"{group}:{error.kind}"] += 1
        return
    if response.status == 200 and response.body == body:
        stats.fast[f"{group}:200"] += 1
    elif response.status == 200:
        stats.fast[f"{group}:WRONG-ANSWER"] += 1
        stats.check(False, "fast lane answered another body")
    else:
        stats.fast[f"{group}:{error_kind(response) if response.status != 202 else '202'}"] += 1


class Load:
    """An open-loop load: `rate` jobs per second spread over client groups, each group with its
    route (first URL: where it sends; last URL: where an idempotent retry goes)."""

    MIX = [  # (weight, service, mode, callback)
        (30, "echo", "sync", False),
        (8, "echo", "sync", True),
        (24, "echo", "async", True),
        (12, "slow", "sync", False),
        (14, "slow", "async", True),
        (4, "echo-fast", "sync", False),
    ]

    def __init__(self, ledger: Ledger, stats: PhaseStats, receiver: WebhookReceiver, groups: dict, rate: float,
                 mix=None, max_in_flight: int = 1500):
        self.ledger, self.stats, self.receiver, self.groups, self.rate = ledger, stats, receiver, groups, rate
        self.mix = mix or self.MIX
        self.max_in_flight = max_in_flight
        self.tasks: set[asyncio.Task] = set()
        self._stop = asyncio.Event()
        self._runner: asyncio.Task | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stops submitting and waits for every call in flight to get its answer."""
        self._stop.set()
        await self._runner
        if self.tasks:
            await asyncio.gather(*self.tasks)

    async def _run(self) -> None:
        started = time.monotonic()
        weights = [m[0] for m in self.mix]
        names = list(self.groups)
        n = 0
        while not self._stop.is_set():
            n += 1
            due = started + n / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                    break
                except asyncio.TimeoutError:
                    pass
            if len(self.tasks) >= self.max_in_flight:
                self.stats.check(False, f"load generator saturated: {len(self.tasks)} calls in flight")
                continue
            group = names[n % len(names)]
            _, service, mode, callback = random.choices(self.mix, weights)[0]
            if service == "echo-fast":
                task = asyncio.create_task(fast_call(group, self.groups[group][0], self.stats))
            else:
                job = self.ledger.new(self.stats.name, service, mode, group, callback, idempotent=random.random() < 0.5)
                task = asyncio.create_task(submit(job, self.groups[group], self.stats, self.receiver))
                self.stats.load_calls += 1
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        self.stats.load_seconds = time.monotonic() - started
