#!/usr/bin/env python3
"""A Baton worker in Python: the `echo` service over plain NATS, with nats-py and the stdlib.

    python3 worker.py --nats-url nats://127.0.0.1:4222 --service py-echo [--lane durable|fast]

It speaks Baton's wire protocol as docs/PROTOCOL.md specifies it (section numbers below refer
to that document), so the gateway cannot tell it from a Swift worker:

- registers the service in KV `baton-services` (§12);
- durable lane (§6): ensures the shared durable consumers `baton-<service>-high|normal|low` on
  `BATON_JOBS` with the same configuration as the Swift runtime, pulls high before normal
  before low (with anti-starvation), checks the deadline and the attempts, reads the job's
  answer entry (ended already, e.g. cancelled while queued? answer again and ack), marks the
  record `running` (compare-and-set), runs the handler while heartbeating (`+WPI`), ends the
  job with one write — its answer entry in KV `baton-results`, create-only, the end in its
  headers (`Baton-State`, `Baton-Finished`, …; the record is not written again) — replies to
  `Baton-Reply`, publishes the terminal event (`Nats-Msg-Id: done-<id>`) only for a job with a
  webhook, and acks last; retryable failures are handed back with a backoff, and jobs out of
  attempts are failed and dead-lettered;
- fast lane (§7): queue-subscribes `baton.svc.<service>` in group `baton.<service>` and replies;
- progress (§8): publishes one progress event per job;
- cancellation (§9): listens on `baton.cancel.*` and cancels the handler's asyncio task.

Prints "worker serving" once it takes jobs. SIGTERM or SIGINT stops it gracefully: it stops
pulling, and hands the jobs in flight back to JetStream (`-NAK`) for another worker.
"""

import argparse
import asyncio
import calendar
import json
import os
import random
import secrets
import signal
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Dict, Optional, Tuple

import nats
from nats.errors import TimeoutError as NATSTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

# --- Names (PROTOCOL.md §2, §3, §4) --------------------------------------------------------

JOBS_STREAM = "BATON_JOBS"
EVENTS_STREAM = "BATON_EVENTS"
DLQ_STREAM = "BATON_DLQ"
RECORDS_BUCKET = "baton-jobs"
RESULTS_BUCKET = "baton-results"
SERVICES_BUCKET = "baton-services"

H_JOB_ID = "Baton-Job-Id"
H_REPLY = "Baton-Reply"
H_STATUS = "Baton-Status"
H_CONTENT_TYPE = "Content-Type"
H_DEADLINE = "Baton-Deadline"
H_OWNER = "Baton-Owner"
H_PRIORITY = "Baton-Priority"
H_CREATED = "Baton-Created"
H_QUEUED_AS = "Baton-Queued-As"  # which copy of a job queued again this is (the record's queuedAs)
H_RECORD = "Baton-Record"  # "headers": the gateway's record holds only what the job's headers say
H_TRACEPARENT = "traceparent"
H_SERVICE = "Baton-Service"
H_ATTEMPTS = "Baton-Attempts"
H_ERROR = "Baton-Error"
H_DEAD_LETTER = "Baton-Dead-Letter"
# On answer entries (KV baton-results), which carry the job's end (§2.3):
H_STATE = "Baton-State"
H_FINISHED = "Baton-Finished"
H_STARTED = "Baton-Started"
H_WORKER = "Baton-Worker"

TERMINAL = {"succeeded", "failed", "cancelled", "expired"}
PROBLEM_MEDIA_TYPE = "application/problem+json"
# JetStream's err_code for a failed Nats-Expected-Last-Subject-Sequence check.
WRONG_LAST_SEQUENCE = 10071
# How long an idle long poll waits on the server for a job: when every priority has one, and
# when free slots are too few to cover every priority (the others are asked again after it).
POLL_SECONDS = 5.0
PARTIAL_POLL_SECONDS = 1.0
# A priority not asked in this many scans goes first in the next one (anti-starvation).
STARVATION_LIMIT = 3
# How long a finished job's end is tried again in place while NATS cannot take it.
END_RETRY_LIMIT = 30.0


PRIORITIES = ("high", "normal", "low")  # the last token of a durable job's subject


def job_subject(service: str, priority: str) -> str:
    return f"baton.jobs.{service}.{priority}"


def jobs_filter(service: str) -> str:
    return f"baton.jobs.{service}.>"


def fast_subject(service: str) -> str:
    return f"baton.svc.{service}"


def queue_group(service: str) -> str:
    return f"baton.{service}"


def progress_subject(service: str, job: str) -> str:
    return f"baton.progress.{service}.{job}"


def done_subject(service: str, job: str) -> str:
    return f"baton.done.{service}.{job}"


def dead_job_subject(service: str, job: str) -> str:
    return f"baton.dlq.jobs.{service}.{job}"


def priority_of(msg) -> Optional[str]:
    """A job's priority: the last token of its subject `baton.jobs.<service>.<priority>`."""
    priority = msg.subject.rsplit(".", 1)[-1]
    return priority if priority in PRIORITIES else None


def origin_of(msg) -> Dict[str, str]:
    """Where a job came from, for its answer entry when its record may never be written
    (`Baton-Record: headers`, PROTOCOL.md §2.3): creation time, owner, priority."""
    if header(msg.headers, H_RECORD) != "headers":
        return {}
    origin = {H_CREATED: header(msg.headers, H_CREATED), H_OWNER: header(msg.headers, H_OWNER),
              H_PRIORITY: priority_of(msg)}
    return {name: value for name, value in origin.items() if value}


def consumer_name(service: str, priority: str) -> str:
    return f"baton-{service}-{priority}"


def legacy_consumer_name(service: str) -> str:
    """The single consumer of a service before priorities (filter `baton.jobs.<service>.>`)."""
    return f"baton-{service}"


# --- Small formats (PROTOCOL.md §1.3) -------------------------------------------------------

JOB_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase


def valid_job_id(text: Optional[str]) -> bool:
    return text is not None and len(text) == 26 and all(c in JOB_ID_ALPHABET for c in text)


def make_job_id() -> str:
    value = secrets.randbits(128)
    return "".join(JOB_ID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def valid_service_name(name: str) -> bool:
    return 1 <= len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "_-") for c in name)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def timestamp(ms: Optional[int] = None) -> str:
    """RFC 3339 UTC with milliseconds and `Z`, exactly as Baton writes it."""
    ms = now_ms() if ms is None else ms
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def parse_timestamp(text: Optional[str]) -> Optional[int]:
    """Milliseconds since 1970 of `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, or None."""
    if not text or not text.endswith("Z") or len(text) < 20:
        return None
    try:
        base = time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    fraction = text[19:-1]
    ms = 0
    if fraction:
        if fraction[0] != "." or not fraction[1:].isdigit():
            return None
        ms = int((fraction[1:] + "00")[:3])
    return calendar.timegm(base) * 1000 + ms


def encode_json(value) -> bytes:
    """JSON as Baton writes it: sorted keys, no spaces, null fields left out."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def number(value: float):
    """100.0 → 100 (Baton's Swift encoder writes integral doubles without a fraction)."""
    return int(value) if float(value).is_integer() else value


def header(headers: Optional[Dict[str, str]], name: str) -> Optional[str]:
    """A header by name, case-insensitively (NATS headers are HTTP-style)."""
    if not headers:
        return None
    if name in headers:
        return headers[name]
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def header_safe(text: str) -> str:
    """A header value: one line, at most 1,000 characters (§4.4)."""
    return text[:1000].replace("\r", " ").replace("\n", " ")


def problem(type_: str, title: str, status: int, detail: str, job_id: str) -> bytes:
    """An RFC 9457 problem document as Baton writes it (note `job_id`, snake case)."""
    return encode_json({"type": type_, "title": title, "status": status, "detail": detail, "job_id": job_id})


# --- The job model a handler sees ------------------------------------------------------------


@dataclass
class Answer:
    status: int = 200
    content_type: Optional[str] = None
    body: bytes = b""

    def headers(self, job_id: Optional[str] = None) -> Dict[str, str]:
        """The answer as NATS headers (the body is the payload). PROTOCOL.md §4.2."""
        headers = {H_STATUS: str(self.status)}
        if self.content_type is not None:
            headers[H_CONTENT_TYPE] = self.content_type
        if job_id is not None:
            headers[H_JOB_ID] = job_id
        return headers

    @staticmethod
    def from_headers(headers: Optional[Dict[str, str]], body: bytes) -> "Answer":
        status = header(headers, H_STATUS)
        return Answer(int(status) if status and status.isdigit() else 200, header(headers, H_CONTENT_TYPE), body or b"")


class JobError(Exception):
    """A failure with an HTTP status; `retryable` ones (durable lane) run again after a backoff."""

    def __init__(self, status: int, message: str, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retryable = retryable


@dataclass
class Job:
    id: str
    service: str
    lane: str
    input: bytes
    content_type: Optional[str]
    attempt: int = 1
    deadline_ms: Optional[int] = None


@dataclass
class Outcome:
    answer: Answer
    state: str  # "succeeded" or "failed"
    error: Optional[str] = None
    retryable: bool = False

    @staticmethod
    def failure(status: int, message: str, job_id: str, retryable: bool = False) -> "Outcome":
        body = problem("/problems/job-failed", "Job failed", status, message, job_id)
        return Outcome(Answer(status, PROBLEM_MEDIA_TYPE, body), "failed", message, retryable)


@dataclass
class Ending:
    """How a job ended, as its answer entry in KV `baton-results` says (PROTOCOL.md §2.3): the
    answer's body is the entry's value, everything else travels in the entry's headers."""
    answer: Answer
    state: str  # succeeded, failed, cancelled or expired
    service: Optional[str] = None
    finished_at: str = field(default_factory=lambda: timestamp())
    started_at: Optional[str] = None  # the first attempt's start; absent if it never started
    attempts: Optional[int] = None
    error: Optional[str] = None
    worker: Optional[str] = None
    # Where the job came from (`Baton-Created`, `Baton-Owner`, `Baton-Priority`), for a job whose
    # record may never be written (`Baton-Record: headers`: a call answered within its wait).
    origin: Dict[str, str] = field(default_factory=dict)

    def headers(self) -> Dict[str, str]:
        headers = self.answer.headers()
        headers[H_STATE] = self.state
        optional = {H_SERVICE: self.service, H_FINISHED: self.finished_at, H_STARTED: self.started_at,
                    H_ATTEMPTS: None if self.attempts is None else str(self.attempts),
                    H_ERROR: None if self.error is None else header_safe(self.error), H_WORKER: self.worker}
        headers.update({name: value for name, value in optional.items() if value is not None})
        headers.update(self.origin)
        return headers

    @staticmethod
    def from_entry(entry: "Entry") -> Optional["Ending"]:
        """The end an answer entry carries; None without a terminal `Baton-State`."""
        state = header(entry.headers, H_STATE)
        if state not in TERMINAL:
            return None
        attempts = header(entry.headers, H_ATTEMPTS)
        return Ending(Answer.from_headers(entry.headers, entry.value), state, header(entry.headers, H_SERVICE),
                      header(entry.headers, H_FINISHED) or timestamp(), header(entry.headers, H_STARTED),
                      int(attempts) if attempts and attempts.isdigit() else None,
                      header(entry.headers, H_ERROR), header(entry.headers, H_WORKER))


# --- KV and records (PROTOCOL.md §2.2, §2.3, §5.1) ------------------------------------------


class WrongLastSequence(Exception):
    """Another writer came first (compare-and-set or create-only failed)."""


@dataclass
class Entry:
    value: bytes
    headers: Dict[str, str]
    revision: int


class Store:
    """KV buckets read with direct get and written with JetStream publishes, as Baton does."""

    def __init__(self, nc, js, log: Callable[[str], None] = lambda _: None):
        self.nc = nc
        self.js = js
        self.log = log

    async def get(self, bucket: str, key: str) -> Optional[Entry]:
        reply = await self.nc.request(f"$JS.API.DIRECT.GET.KV_{bucket}.$KV.{bucket}.{key}", b"", timeout=5)
        headers = dict(reply.headers or {})
        status = headers.get("Status")
        if status == "404":
            return None
        if status:
            raise RuntimeError(f"direct get {bucket}/{key}: {status} {headers.get('Description', '')}")
        if header(headers, "KV-Operation") in ("DEL", "PURGE"):
            return None
        revision = int(header(headers, "Nats-Sequence"))
        for name in ("Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp",
                     "Nats-Expected-Last-Subject-Sequence", "Nats-Msg-Id"):
            headers.pop(name, None)
        return Entry(reply.data or b"", headers, revision)

    async def put(self, bucket: str, key: str, value: bytes, headers: Optional[Dict[str, str]] = None,
                  expected_revision: Optional[int] = None) -> int:
        """Writes `value`; with `expected_revision` only if the key's last revision is that (0: the
        key must not exist). Returns the new revision."""
        headers = dict(headers or {})
        if expected_revision is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_revision)
        try:
            ack = await self.js.publish(f"$KV.{bucket}.{key}", value, headers=headers or None)
        except APIError as error:
            if error.err_code == WRONG_LAST_SEQUENCE:
                raise WrongLastSequence(str(error)) from None
            raise
        return ack.seq

    # Job records (KV baton-jobs), JSON objects kept as dicts so unknown fields survive.

    async def record(self, job_id: str) -> Optional[Tuple[dict, int]]:
        entry = await self.get(RECORDS_BUCKET, job_id)
        return None if entry is None else (json.loads(entry.value), entry.revision)

    async def create_record(self, record: dict) -> int:
        return await self.put(RECORDS_BUCKET, record["id"], encode_json(record), expected_revision=0)

    async def update(self, job_id: str, change: Callable[[dict], bool],
                     snapshot: Optional[Tuple[dict, int]] = None, attempts: int = 8) -> Optional[Tuple[dict, int]]:
        """Read-modify-write with compare-and-set on the revision, until no other writer comes
        between. `change` edits the record in place and returns False for "nothing to do".
        Returns the record as written, or None (unchanged or absent)."""
        current = snapshot
        for _ in range(attempts):
            if current is None:
                current = await self.record(job_id)
                if current is None:
                    return None
            record = json.loads(json.dumps(current[0]))  # a copy
            if not change(record):
                return None
            record["updatedAt"] = timestamp()
            try:
                revision = await self.put(RECORDS_BUCKET, job_id, encode_json(record), expected_revision=current[1])
                return record, revision
            except WrongLastSequence:
                self.log(f"record {job_id} changed since revision {current[1]}; reading it again")
                current = None  # someone else wrote first: read again
        raise RuntimeError(f"record {job_id} kept changing under {attempts} attempts")

    # Answers (KV baton-results): body as the value; status, content type and the job's end as
    # headers. Writing it ends the job (PROTOCOL.md §2.3, §6.4).

    async def ending(self, job_id: str) -> Optional[Ending]:
        """The job's end, or None while it has not ended."""
        entry = await self.get(RESULTS_BUCKET, job_id)
        return None if entry is None else Ending.from_entry(entry)

    async def finish(self, job_id: str, proposed: Ending, webhook: bool,
                     before_event: Callable[[Answer], Awaitable[None]]) -> Ending:
        """Ends a job (PROTOCOL.md §6.4): its answer entry, create-only, so the first end wins (a
        cancel, or another worker that ran the same job) and this one adopts the stored end;
        then `before_event` (the reply to a waiting gateway); then, only for a job with a
        webhook, the terminal event. The job's record is not written: readers merge the end
        into it. Every step is idempotent: call it again when unsure whether it got through."""
        try:
            await self.put(RESULTS_BUCKET, job_id, proposed.answer.body, headers=proposed.headers(), expected_revision=0)
            ending = proposed
        except WrongLastSequence:
            entry = await self.get(RESULTS_BUCKET, job_id)
            if entry is None:
                raise
            ending = Ending.from_entry(entry) or \
                Ending(Answer.from_headers(entry.headers, entry.value), proposed.state, proposed.service)
        await before_event(ending.answer)
        if webhook:
            await self.publish_end(job_id, ending.service or proposed.service, ending)
        return ending

    async def publish_end(self, job_id: str, service: str, ending: Ending) -> None:
        """The terminal event of an ended job with a webhook (PROTOCOL.md §5.4), with
        `Nats-Msg-Id: done-<id>` so JetStream drops a second copy."""
        event = {"job": job_id, "service": service, "state": ending.state, "status": ending.answer.status,
                 "at": ending.finished_at, "webhook": True}
        await self.js.publish(done_subject(service, job_id), encode_json(event), headers={"Nats-Msg-Id": f"done-{job_id}"})

    async def dead_letter(self, job_id: str, service: str, payload: bytes, content_type: Optional[str],
                          attempts: int, error: str, owner: Optional[str]) -> None:
        headers = {
            H_JOB_ID: job_id,
            H_SERVICE: service,
            H_ATTEMPTS: str(attempts),
            H_ERROR: header_safe(error),
            H_DEAD_LETTER: "job",
            "Nats-Msg-Id": f"dlq-job-{job_id}",
        }
        if content_type is not None:
            headers[H_CONTENT_TYPE] = content_type
        if owner is not None:
            headers[H_OWNER] = owner
        await self.js.publish(dead_job_subject(service, job_id), payload, headers=headers)


# --- What a handler can do besides answering ------------------------------------------------


class Context:
    def __init__(self, worker: "Worker", job: Job, cursor: Optional[list] = None):
        self.worker = worker
        self.job = job
        self.cursor = cursor  # [record, revision] of the durable job's record as last written

    async def progress(self, percent: Optional[float] = None, message: Optional[str] = None,
                       data: Optional[str] = None) -> None:
        """Publishes a progress event and, for durable jobs, records it (PROTOCOL.md §8)."""
        job = self.job
        event = {"job": job.id, "service": job.service, "at": timestamp()}
        if percent is not None:
            event["percent"] = number(percent)
        if message is not None:
            event["message"] = message
        if data is not None:
            event["data"] = data
        await self.worker.nc.publish(progress_subject(job.service, job.id), encode_json(event))
        if self.cursor is None:
            return

        def change(record: dict) -> bool:
            if record.get("state") != "running":
                return False
            progress = {}
            if percent is not None:
                progress["percent"] = number(percent)
            if message is not None:
                progress["message"] = message
            record["progress"] = progress
            return True

        try:
            written = await self.worker.store.update(job.id, change, tuple(self.cursor))
            if written is not None:
                self.cursor[:] = list(written)
        except Exception as error:  # progress is best effort
            self.worker.log(f"progress of {job.id} not recorded: {error}")


Handler = Callable[[Job, Context], Awaitable[Answer]]


def echo(delay: float = 0.0) -> Handler:
    """`echo`: the input bytes and content type, unchanged, after one progress event (and after
    `delay` seconds, to try cancellation, heartbeats and redelivery by hand)."""

    async def handler(job: Job, context: Context) -> Answer:
        await context.progress(50, f"echoing {len(job.input)} bytes")
        if delay > 0:
            await asyncio.sleep(delay)  # a cancel request interrupts this (CancelledError)
        return Answer(200, job.content_type, job.input)

    return handler


# --- The runtime --------------------------------------------------------------------------------


@dataclass
class Slot:
    """A job running in this process, so that `baton.cancel.<job>` reaches its handler."""
    cancel_requested: bool = False
    task: Optional[asyncio.Task] = None


@dataclass
class Worker:
    nc: object
    service: str
    lane: str
    handler: Handler
    worker_id: str
    version: str = "1.0.0"
    description: str = ""
    concurrency: int = 8
    ack_wait: float = 30.0
    max_attempts: int = 5
    retry_backoff: float = 1.0
    max_retry_backoff: float = 300.0
    verbose: bool = False
    slots: Dict[str, Slot] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    handlers_cancelled: bool = False

    def __post_init__(self):
        self.js = self.nc.jetstream()
        self.store = Store(self.nc, self.js, self.log)

    def log(self, text: str) -> None:
        if self.verbose:
            print(text, file=sys.stderr, flush=True)

    # Start-up (PROTOCOL.md §12, §13)

    async def wait_for_layout(self) -> None:
        """Baton's gateways and Swift workers create the streams and buckets (§2); wait for them."""
        names = [JOBS_STREAM, EVENTS_STREAM, DLQ_STREAM, f"KV_{RECORDS_BUCKET}", f"KV_{RESULTS_BUCKET}", f"KV_{SERVICES_BUCKET}"]
        told = False
        while True:
            missing = []
            for name in names:
                try:
                    await self.js.stream_info(name)
                except NotFoundError:
                    missing.append(name)
            if not missing:
                return
            if not told:
                print(f"waiting for Baton's streams ({', '.join(missing)}): start a gateway", flush=True)
                told = True
            await asyncio.sleep(1)

    async def ensure_consumers(self) -> None:
        """The durable consumers all workers of the service share, one per priority, configured
        exactly as the Swift runtime configures them (§6.1); existing ones are used as they are.
        The single consumer of earlier versions (`baton-<service>`, filter
        `baton.jobs.<service>.>`) would overlap them on the work-queue stream: delete it."""
        try:
            legacy = await self.js.consumer_info(JOBS_STREAM, legacy_consumer_name(self.service))
            if legacy.config.filter_subject == jobs_filter(self.service):
                await self.js.delete_consumer(JOBS_STREAM, legacy_consumer_name(self.service))
        except NotFoundError:
            pass
        ack_waits = []
        for priority in PRIORITIES:
            name = consumer_name(self.service, priority)
            try:
                info = await self.js.consumer_info(JOBS_STREAM, name)
            except NotFoundError:
                info = await self.js.add_consumer(JOBS_STREAM, ConsumerConfig(
                    name=name, durable_name=name, filter_subject=job_subject(self.service, priority),
                    ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                    ack_wait=self.ack_wait, max_deliver=-1, max_ack_pending=10_000, num_replicas=1))
            if info.config.filter_subject != job_subject(self.service, priority) or info.config.ack_policy != AckPolicy.EXPLICIT:
                raise SystemExit(f"consumer {name} exists with another configuration: {info.config}")
            ack_waits.append(info.config.ack_wait or self.ack_wait)
        if min(ack_waits) != self.ack_wait:
            # Heartbeats must beat the ack wait the consumers have, whoever set it.
            self.log(f"the consumers have an ack wait of {min(ack_waits)}s; heartbeating for that")
            self.ack_wait = min(ack_waits)

    async def register(self) -> None:
        registration = {"name": self.service, "lane": self.lane, "version": self.version,
                        "description": self.description, "updatedAt": timestamp()}
        await self.store.put(SERVICES_BUCKET, self.service, encode_json(registration))

    async def run(self) -> None:
        await self.wait_for_layout()
        if self.lane == "durable":
            await self.ensure_consumers()
        await self.register()
        cancels = await self.nc.subscribe("baton.cancel.*", cb=self.on_cancel)
        print(f"worker serving: {self.service} ({self.lane}) as {self.worker_id}", flush=True)
        try:
            if self.lane == "durable":
                await self.serve_durable()
            else:
                await self.serve_fast()
        finally:
            await cancels.unsubscribe()
        print("worker stopped", flush=True)

    async def on_cancel(self, msg) -> None:
        job_id = msg.subject.rsplit(".", 1)[-1]
        slot = self.slots.get(job_id)
        if slot is None:
            return
        self.log(f"cancel requested for {job_id}")
        slot.cancel_requested = True
        if slot.task is not None:
            slot.task.cancel()

    def stop(self) -> None:
        """Stops taking work. Fast lane: running handlers are cancelled at once (answered 503).
        Durable lane: see `serve_durable`."""
        self.stopping.set()
        if self.lane == "fast":
            self.cancel_running()

    def cancel_running(self) -> None:
        """Interrupts every running handler, and every one that starts from now on."""
        self.handlers_cancelled = True
        for slot in list(self.slots.values()):
            if slot.task is not None:
                slot.task.cancel()

    async def run_handler(self, job: Job, context: Context, slot: Slot) -> Optional[Outcome]:
        """Runs the handler as its own task; None when it was cancelled (by the client or a stop)."""
        slot.task = asyncio.ensure_future(self.handler(job, context))
        if slot.cancel_requested or self.handlers_cancelled:
            slot.task.cancel()
        try:
            return Outcome(await slot.task, "succeeded")
        except asyncio.CancelledError:
            if slot.task.cancelled():
                return None
            raise
        except JobError as error:
            return Outcome.failure(error.status, error.message, job.id, error.retryable)
        except Exception as error:
            return Outcome.failure(500, f"The handler failed: {error!r}", job.id)

    # Durable lane (PROTOCOL.md §6)

    async def pull(self, priority: str, wait: Optional[float]) -> Optional[object]:
        """One pull request for one job on the priority's consumer: `no_wait` (whatever is there
        now) when `wait` is None, else a long poll of `wait` seconds. The job, or None."""
        body = {"batch": 1, "no_wait": True} if wait is None else {"batch": 1, "expires": int(wait * 1e9)}
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{JOBS_STREAM}.{consumer_name(self.service, priority)}"
        try:
            # A private inbox per request (old_style): a pulled job arrives on it under its own
            # subject (`baton.jobs.…`), which nats-py's shared request inbox would not route.
            msg = await self.nc.request(subject, encode_json(body), timeout=5.0 if wait is None else wait + 2.0, old_style=True)
        except NATSTimeoutError:
            return None
        except Exception as error:  # no responders (consumer gone), connection trouble
            self.log(f"pull from {priority} failed: {error!r}")
            await asyncio.sleep(1)
            return None
        status = header(msg.headers, "Status")
        if status:  # 404 no messages, 408 expired, 409 refused
            if status not in ("404", "408"):
                self.log(f"pull from {priority} refused: {status} {header(msg.headers, 'Description')}")
                await asyncio.sleep(1)
            return None
        return msg

    async def serve_durable(self) -> None:
        """Pulls jobs from the three priority consumers (§6.2), never more than there are free
        handler slots. Each round scans the priorities with no-wait pulls, high first (a priority
        not asked for `STARVATION_LIMIT` scans goes first, so low jobs are not starved); when
        nothing is queued, the free slots are parked in one long poll per priority (normal, high,
        low), so a new job of any priority starts at once.

        On stop, the open long polls are left to end first (at most `POLL_SECONDS`), and only
        then are the running handlers cancelled and their jobs handed back (`-NAK`): a job
        handed back while this worker still has a pull request open would be delivered to it
        again, and on a nats-server without the fix of nats-server#5305 (2.10.x, April 2024;
        Debian bookworm has 2.9.10) a delivery to a pull request whose inbox is gone makes the
        server deliver the job again with its delivery count reset to 1."""
        free = self.concurrency
        running = set()
        polls: Dict[str, asyncio.Task] = {}
        not_asked = {priority: 0 for priority in PRIORITIES}
        wake = asyncio.Event()
        stop = asyncio.ensure_future(self.stopping.wait())
        stop.add_done_callback(lambda _: wake.set())
        parked = []  # jobs delivered while stopping: handed back once no pull is open

        def start(msg) -> None:
            task = asyncio.ensure_future(self.process(msg))
            running.add(task)

            def done(t):
                nonlocal free
                running.discard(t)
                free += 1
                wake.set()

            task.add_done_callback(done)

        def scan_order():
            starved = [p for p in PRIORITIES if not_asked[p] >= STARVATION_LIMIT]
            first = max(starved, key=lambda p: not_asked[p], default=None)  # ties: the higher priority
            return ([first] if first else []) + [p for p in PRIORITIES if p != first]

        async def long_poll(priority: str, seconds: float) -> None:
            nonlocal free
            msg = await self.pull(priority, seconds)
            polls.pop(priority, None)
            if msg is None:
                free += 1
            elif self.stopping.is_set():
                parked.append(msg)
                free += 1
            else:
                start(msg)  # the slot reserved for the poll is the job's
            wake.set()

        while not self.stopping.is_set():
            wake.clear()  # before looking: whatever happens from here on wakes the wait below
            # Take what is queued now, highest priority first.
            while free > 0 and not self.stopping.is_set():
                msg = None
                asked = set()
                for priority in scan_order():
                    if priority in polls:
                        continue  # its long poll takes its jobs as they come
                    asked.add(priority)
                    msg = await self.pull(priority, None)
                    if msg is not None:
                        break
                for priority in PRIORITIES:
                    not_asked[priority] = 0 if priority in asked else not_asked[priority] + 1
                if msg is None:
                    break
                if self.stopping.is_set():
                    parked.append(msg)
                    break
                free -= 1
                start(msg)
            if self.stopping.is_set():
                break
            # Nothing queued: park free slots in long polls, one per priority.
            seconds = POLL_SECONDS if free >= len(PRIORITIES) - len(polls) else PARTIAL_POLL_SECONDS
            for priority in ("normal", "high", "low"):
                if free > 0 and priority not in polls:
                    free -= 1
                    polls[priority] = asyncio.ensure_future(long_poll(priority, seconds))
            await wake.wait()

        stop.cancel()
        if polls:
            await asyncio.gather(*polls.values(), return_exceptions=True)
        for msg in parked:
            await self.nak(msg, None)
        self.cancel_running()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def process(self, msg) -> None:
        try:
            await self.process_job(msg)
        except Exception as error:
            self.log(f"job failed unexpectedly, handing it back: {error!r}")
            await self.nak(msg, 1.0)

    async def process_job(self, msg) -> None:
        job_id = header(msg.headers, H_JOB_ID)
        if not valid_job_id(job_id):
            self.log(f"job message without a valid job id on {msg.subject}; terminating it")
            await msg.term()
            return
        reply = header(msg.headers, H_REPLY)
        attempt = msg.metadata.num_delivered
        deadline = parse_timestamp(header(msg.headers, H_DEADLINE))
        self.log(f"job {job_id} attempt {attempt} ({msg.subject}, {msg.reply})")
        slot = Slot()
        self.slots[job_id] = slot  # before the record says running, so no cancel is lost
        try:
            # 1. Out of time or out of attempts: end the job without running it.
            if deadline is not None and deadline < now_ms():
                detail = f"Job {job_id} reached its deadline before a worker started it; it was not run."
                answer = Answer(504, PROBLEM_MEDIA_TYPE, problem("/problems/job-expired", "Job expired", 504, detail, job_id))
                ending = Ending(answer, "expired", self.service, error=detail, origin=origin_of(msg))
                await self.end(msg, job_id, reply, ending, None)
                return
            if attempt > self.max_attempts:
                await self.give_up(msg, job_id, reply, attempt - 1)
                return

            # 2. Has the job ended (cancelled while queued, or ended by an earlier delivery)?
            #    Then answer again and ack; else mark its record running.
            try:
                started = await self.start(msg, job_id, attempt)
            except Exception as error:  # NATS unavailable: not an attempt; back off as it lasts
                self.log(f"cannot start job {job_id}, handing it back: {error!r}")
                await self.nak(msg, float(min(30, attempt)))
                return
            if started is None:
                self.log(f"job {job_id} ended before; acknowledging the delivery")
                await self.answer_again(msg, job_id, reply)
                return
            cursor = list(started)
            record = started[0]
            webhook = record.get("webhook") is not None

            # 3. Run the handler, heartbeating so a long job is not redelivered while alive.
            job = Job(job_id, self.service, "durable", msg.data or b"", header(msg.headers, H_CONTENT_TYPE), attempt, deadline)
            heartbeat = asyncio.ensure_future(self.heartbeat(msg))
            try:
                outcome = await self.run_handler(job, Context(self, job, cursor), slot)
            finally:
                heartbeat.cancel()
            if outcome is None:
                if slot.cancel_requested:
                    self.log(f"job {job_id} cancelled by the client")
                    await self.answer_again(msg, job_id, reply)
                else:
                    await self.nak(msg, None)  # stopping mid-job: another worker runs it
                return

            # 4. A retryable failure with attempts left goes back to the queue with a backoff.
            last_retry = outcome.state == "failed" and outcome.retryable and not slot.cancel_requested
            if last_retry and attempt < self.max_attempts:
                await self.retry_later(msg, job_id, attempt, outcome, cursor)
                return

            # 5. End the job (its answer entry), reply, publish the event if it has a webhook, ack;
            #    a retryable failure out of attempts is also dead-lettered.
            ending = Ending(outcome.answer, outcome.state, self.service, started_at=record.get("startedAt"),
                            attempts=attempt, error=outcome.error, worker=self.worker_id, origin=origin_of(msg))
            dead_letter = (msg, attempt, outcome.error or "failed") if last_retry else None
            await self.end(msg, job_id, reply, ending, webhook, dead_letter)
        finally:
            self.slots.pop(job_id, None)

    async def start(self, msg, job_id: str, attempt: int) -> Optional[Tuple[dict, int]]:
        """Marks the record `running` by compare-and-set and returns it as written; None when the
        job ended already: it has an answer entry (the job's end, §2.3), or its record is
        terminal (the gateway could not queue it, or an older worker ended it). The answer
        entry and the record are read at once.

        The gateway writes a record it can rebuild from the headers (`Baton-Record: headers`)
        while it publishes the job, so the job may come first: then the record is created here
        from the headers, create-only (whichever of the two writes comes second fails, and a
        failure here reads again). The same rebuild keeps a job visible whose record is gone
        (its retention ended). (The Swift runtime saves the record's read and defers the
        running mark on first deliveries, PROTOCOL.md §6.7; reading every time is simpler and
        cannot drop a record field this worker does not know about.)"""
        now = timestamp()
        copy = header(msg.headers, H_QUEUED_AS)

        def running(record: dict) -> bool:
            if record.get("state") in TERMINAL:
                return False
            if record.get("queuedAs") != copy:
                return False  # a stale copy of a job the gateway queued again: acked unrun (§6.3)
            record["state"] = "running"
            record.pop("publishing", None)  # delivered: stored, whether or not its gateway saw it
            record["attempts"] = attempt
            record.setdefault("startedAt", now)
            record["worker"] = self.worker_id
            return True

        for _ in range(3):
            ending, current = await asyncio.gather(self.store.ending(job_id), self.store.record(job_id))
            if ending is not None:
                return None
            if current is not None:
                return await self.store.update(job_id, running, current)
            record = self.rebuilt_record(msg, job_id)
            running(record)
            record["updatedAt"] = now
            try:
                return record, await self.store.create_record(record)
            except WrongLastSequence:
                continue  # the gateway's record came meanwhile: read it
        raise RuntimeError(f"record of {job_id} neither readable nor creatable")

    def rebuilt_record(self, msg, job_id: str) -> dict:
        """The record as the gateway creates it, from the job's headers (PROTOCOL.md §6.7)."""
        created = header(msg.headers, H_CREATED)
        if parse_timestamp(created) is None:
            created = timestamp()
        record = {"id": job_id, "service": self.service, "lane": "durable", "state": "queued",
                  "createdAt": created, "updatedAt": created, "attempts": 0}
        optional = {"deadline": header(msg.headers, H_DEADLINE), "owner": header(msg.headers, H_OWNER),
                    "traceparent": header(msg.headers, H_TRACEPARENT)}
        optional["queuedAs"] = header(msg.headers, H_QUEUED_AS)
        record.update({name: value for name, value in optional.items() if value is not None})
        priority = priority_of(msg)
        if priority is not None:
            record["priority"] = priority
        return record

    async def has_webhook(self, msg, job_id: str) -> bool:
        """Whether the job's record has a webhook (then its end is announced on `baton.done.…`).
        A record the gateway built from the headers alone has none."""
        if header(msg.headers, H_RECORD) == "headers":
            return False
        current = await self.store.record(job_id)
        return current is not None and current[0].get("webhook") is not None

    async def heartbeat(self, msg) -> None:
        while True:
            await asyncio.sleep(max(0.1, self.ack_wait / 3))
            try:
                await msg.in_progress()
            except Exception as error:
                self.log(f"heartbeat failed: {error!r}")

    async def end(self, msg, job_id: str, reply: Optional[str], proposed: Ending, webhook: Optional[bool],
                  dead_letter=None) -> None:
        """Ends the job (`Store.finish`) and acks. `webhook` says whether the job has one (None:
        look it up). While NATS cannot take the end (a stream electing a leader), tries again
        in place for up to END_RETRY_LIMIT seconds with the job kept in progress (every step
        is idempotent); then hands the job back."""

        async def answer_gateway(stored: Answer) -> None:
            if reply:
                await self.nc.publish(reply, stored.body, headers=stored.headers(job_id))

        give_up_at = time.monotonic() + END_RETRY_LIMIT
        pause = 0.2
        while True:
            try:
                if webhook is None:
                    webhook = await self.has_webhook(msg, job_id)
                ended = await self.store.finish(job_id, proposed, webhook, answer_gateway)
                if dead_letter is not None and ended.state == "failed":
                    message, attempts, last_error = dead_letter
                    await self.store.dead_letter(job_id, self.service, message.data or b"",
                                                 header(message.headers, H_CONTENT_TYPE), attempts, last_error,
                                                 header(message.headers, H_OWNER))
                await msg.ack()
                self.log(f"job {job_id} done: {ended.state}")
                return
            except Exception as error:
                if time.monotonic() >= give_up_at:
                    self.log(f"cannot record the end of job {job_id}, handing it back: {error!r}")
                    await self.nak(msg, 1.0)
                    return
                self.log(f"cannot record the end of job {job_id} yet, retrying: {error!r}")
                try:
                    await msg.in_progress()
                except Exception:
                    pass
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0, max(0.1, self.ack_wait / 3))

    async def answer_again(self, msg, job_id: str, reply: Optional[str]) -> None:
        """Acks a job that ended before, answering a waiting gateway from its stored end. A job
        with a webhook gets its terminal event published again first (same message id, so
        JetStream drops a second copy): whoever ended it may have died, or NATS failed, between
        the end and the event, and the webhook dispatchers wait for it; until it is stored the
        job is handed back with a growing delay."""
        try:
            ending, current = await asyncio.gather(self.store.ending(job_id), self.store.record(job_id))
        except Exception as error:
            delay = float(min(30, msg.metadata.num_delivered))
            self.log(f"cannot read the end of job {job_id}, handing it back: {error!r}")
            await self.nak(msg, delay)
            return
        if reply and ending is not None:
            try:
                await self.nc.publish(reply, ending.answer.body, headers=ending.answer.headers(job_id))
            except Exception as error:
                self.log(f"stored answer of {job_id} not sent: {error!r}")
        if ending is not None and current is not None and current[0].get("webhook") is not None:
            try:
                await self.store.publish_end(job_id, current[0].get("service") or self.service, ending)
            except Exception as error:
                delay = float(min(30, msg.metadata.num_delivered))
                self.log(f"cannot publish the end of job {job_id}, handing it back: {error!r}")
                await self.nak(msg, delay)
                return
        await msg.ack()

    async def retry_later(self, msg, job_id: str, attempt: int, outcome: Outcome, cursor: list) -> None:
        delay = min(self.retry_backoff * (2 ** min(attempt - 1, 20)), self.max_retry_backoff) * random.uniform(0.8, 1.2)
        self.log(f"attempt {attempt} of {job_id} failed; retrying in {delay:.1f}s")

        def queued(record: dict) -> bool:
            if record.get("state") in TERMINAL:
                return False
            record["state"] = "queued"
            record["error"] = f"Attempt {attempt} failed: {outcome.error or 'failed'}"
            return True

        try:
            await self.store.update(job_id, queued, tuple(cursor))
        except Exception as error:
            self.log(f"record of {job_id} not requeued: {error!r}")
        await self.nak(msg, delay)

    async def give_up(self, msg, job_id: str, reply: Optional[str], attempts: int) -> None:
        self.log(f"job {job_id} out of attempts ({attempts}); dead-lettering it")
        current = await self.store.record(job_id)
        record = current[0] if current is not None else {}
        error = record.get("error") or f"No answer after {attempts} attempts (the worker crashed or stalled each time)."
        answer = Answer(500, PROBLEM_MEDIA_TYPE, problem("/problems/job-failed", "Job failed", 500, error, job_id))
        ending = Ending(answer, "failed", self.service, started_at=record.get("startedAt"), attempts=attempts, error=error)
        webhook = record.get("webhook") is not None
        await self.end(msg, job_id, reply, ending, webhook, dead_letter=(msg, attempts, error))

    async def nak(self, msg, delay: Optional[float]) -> None:
        try:
            await msg.nak(delay=delay)
        except Exception as error:
            self.log(f"nak failed: {error!r}")

    # Fast lane (PROTOCOL.md §7)

    async def serve_fast(self) -> None:
        free = asyncio.Semaphore(self.concurrency)
        running = set()

        async def on_request(msg) -> None:
            await free.acquire()
            task = asyncio.ensure_future(self.handle_fast(msg))
            running.add(task)
            task.add_done_callback(lambda t: (running.discard(t), free.release()))

        subscription = await self.nc.subscribe(fast_subject(self.service), queue=queue_group(self.service), cb=on_request)
        await self.stopping.wait()
        await subscription.unsubscribe()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    async def handle_fast(self, msg) -> None:
        if not msg.reply:
            return
        job_id = header(msg.headers, H_JOB_ID)
        if not valid_job_id(job_id):
            job_id = make_job_id()
        job = Job(job_id, self.service, "fast", msg.data or b"", header(msg.headers, H_CONTENT_TYPE))
        slot = Slot()
        self.slots[job_id] = slot
        try:
            outcome = await self.run_handler(job, Context(self, job), slot)
        finally:
            self.slots.pop(job_id, None)
        if outcome is None:
            outcome = Outcome.failure(409, "The job was cancelled.", job_id) if slot.cancel_requested \
                else Outcome.failure(503, "The worker is shutting down.", job_id)
        headers = outcome.answer.headers(job_id)
        if outcome.state == "failed":
            headers["Nats-Service-Error"] = outcome.error or "failed"
            headers["Nats-Service-Error-Code"] = str(outcome.answer.status)
        try:
            await self.nc.publish(msg.reply, outcome.answer.body, headers=headers)
        except Exception as error:
            self.log(f"fast-lane answer to {job_id} not sent: {error!r}")


def nats_security_options(environment=os.environ) -> dict:
    """nats.connect keyword arguments from the variables `baton worker` reads for the same
    settings: BATON_NATS_TLS_CA, _TLS_CERT, _TLS_KEY, _TLS_SERVER_NAME (any turns TLS on, as does
    a tls:// URL), and one credential: BATON_NATS_CREDS (.creds file), BATON_NATS_NKEY_SEED (seed
    file; needs PyPI's nkeys), BATON_NATS_TOKEN or BATON_NATS_TOKEN_FILE."""
    def setting(name):
        return environment.get(f"BATON_NATS_{name}") or None

    options = {}
    ca, cert, key, server_name = (setting(n) for n in ("TLS_CA", "TLS_CERT", "TLS_KEY", "TLS_SERVER_NAME"))
    if ca or cert or key or server_name:
        context = ssl.create_default_context(cafile=ca)
        if cert:
            context.load_cert_chain(cert, key)
        options["tls"] = context
        if server_name:
            options["tls_hostname"] = server_name
    if setting("CREDS"):
        options["user_credentials"] = setting("CREDS")
    if setting("NKEY_SEED"):
        options["nkeys_seed"] = setting("NKEY_SEED")
    token = setting("TOKEN")
    if setting("TOKEN_FILE"):
        with open(setting("TOKEN_FILE")) as f:
            token = f.read().strip()
    if token:
        options["token"] = token
    return options


def default_worker_id() -> str:
    return f"py-{socket.gethostname().split('.')[0] or 'worker'}-{os.getpid()}"


async def main() -> None:
    parser = argparse.ArgumentParser(description="A Baton worker in Python serving the echo service.")
    parser.add_argument("--nats-url", default=os.environ.get("BATON_NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--service", default="py-echo", help="the service name (letters, digits, _ and -)")
    parser.add_argument("--lane", choices=["durable", "fast"], default="durable")
    parser.add_argument("--worker-id", default=default_worker_id())
    parser.add_argument("--concurrency", type=int, default=8, help="handlers in flight at once")
    parser.add_argument("--ack-wait", type=float, default=30.0, help="seconds (the consumer's ack wait, if this worker creates it)")
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds echo waits before answering (to try cancel)")
    parser.add_argument("--verbose", action="store_true", help="log each job to stderr")
    args = parser.parse_args()
    if not valid_service_name(args.service):
        parser.error("service names are 1-64 characters of letters, digits, '_' and '-'")

    nc = await nats.connect(args.nats_url, name=f"baton-python-worker-{args.service}", max_reconnect_attempts=-1,
                            **nats_security_options())
    worker = Worker(nc, args.service, args.lane, echo(args.delay), args.worker_id,
                    description="Answers the input bytes and content type unchanged (Python, nats-py).",
                    concurrency=args.concurrency, ack_wait=args.ack_wait, max_attempts=args.max_attempts,
                    verbose=args.verbose)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.stop)
    # A parent that blocks these signals (Swift's test runner does) passes its mask on.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        await worker.run()
    finally:
        try:
            await nc.drain()
        except Exception:  # NATS already gone
            await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
