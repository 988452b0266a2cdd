#!/usr/bin/env python3
"""Chaos test of a local Baton cluster: steady load, one fault at a time, exact accounting.

    python3 deploy/local/chaos_load.py [--phases worker-kill,gateway-kill,nats-kill,worker-pause,burst]

Run by deploy/local/chaos.sh (`make chaos`), which brings the cluster up and down. Python 3 standard
library only. It reads the cluster's env file (GATEWAY_URL, GATEWAY_URLS, NATS_URLS, WEBHOOK_SECRET)
and drives faults through deploy/local/cluster.sh (`kill <name> <signal>`, `stop`, `start`).

Each phase runs a steady open-loop load of durable jobs (sync and async, `echo` with a unique body
per job, `slow` with a per-job duration) plus a few fast-lane calls, injects its fault, stops the
load, then settles every job the clients saw accepted and prints:

    accepted N, finished N, lost N, duplicated-effects N

Definitions (the same in the report):

* accepted: the client got `200` with the job's answer, or `202` with a `Location`, on its call or
  on an idempotent retry of it (same Idempotency-Key). `503 queue-full`, `503 unavailable`, `502`
  and transport errors are not acceptances; they are counted as client errors by kind.
* finished: accepted, and the job's stored answer (GET /v1/jobs/{id}/result, read on every live
  gateway) is `200` with the right body: byte-equal to the unique input and its content type for
  `echo`, exactly `{"slept_ms":N}` for `slow {"ms":N}`; and its record is `succeeded`.
* lost = accepted - finished (each one is listed with why: never ended, failed, wrong answer…).
* duplicated effects: the number of jobs with at least one effect observed twice or observed to
  change, measured as follows:
    - answer-changed: two reads of the job's answer differ (status, content type or bytes).
      Reads are the sync answer, the result read on each gateway at settling, the answer inside
      its webhook, and a re-read of every job at the end of the run (and, for worker-pause,
      after the paused worker resumed): a late answer that replaced the first shows here;
    - record-changed: the job's terminal record (state, status, finishedAt, worker) changed
      between two reads after it was first seen terminal;
    - crossed-answer: an echo job answered with the body of another job;
    - webhook-duplicate: our receiver acknowledged (2xx) more than one signed delivery with this
      job's `webhook-id`;
    - webhook-unwanted: a webhook arrived for a job whose client already got the answer on its
      own synchronous call (Baton sends none then).
  A webhook that should have come (async job with Callback-Url) but did not is counted with the
  lost jobs' reasons ("webhook-missing") and fails the phase as well.
* stale reads (reported under "polling" errors, neither lost nor duplicated): a read that shows
  a job unknown (404 unknown-job) after it was accepted, or unfinished after it was seen ended.

The process exits non-zero when any phase has lost > 0, duplicated-effects > 0 or a failed check
(errors on the surviving gateway, a hang or crash in the burst, a node that did not catch up…).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import importlib.util
import json
import os
import random
import re
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client on asyncio streams (one connection per request: a reused keep-alive
# connection that the server closed would show up as a spurious error on the surviving gateway).


@dataclasses.dataclass
class Response:
    status: int
    headers: dict  # lower-case names
    body: bytes

    def problem_type(self) -> str:
        if "problem+json" not in self.headers.get("content-type", ""):
            return ""
        try:
            return str(json.loads(self.body).get("type", ""))
        except ValueError:
            return ""


class TransportError(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


async def http(base: str, method: str, path: str, headers: dict | None = None, body: bytes = b"",
               timeout: float = 30.0) -> Response:
    url = urlsplit(base)
    host, port = url.hostname, url.port or 80
    try:
        return await asyncio.wait_for(_exchange(host, port, method, path, headers or {}, body), timeout)
    except asyncio.TimeoutError:
        raise TransportError("timeout") from None
    except ConnectionRefusedError:
        raise TransportError("connection-refused") from None
    except (ConnectionResetError, BrokenPipeError):
        raise TransportError("connection-reset") from None
    except asyncio.IncompleteReadError:
        raise TransportError("connection-closed") from None
    except OSError as error:
        raise TransportError(f"os-error-{error.errno}") from None


async def _exchange(host, port, method, path, headers, body) -> Response:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise asyncio.IncompleteReadError(b"", None)
        status = int(status_line.split()[1])
        response_headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            response_headers[name.strip().lower()] = value.strip()
        if "content-length" in response_headers:
            data = await reader.readexactly(int(response_headers["content-length"]))
        elif response_headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await reader.readline()
                    break
                data += await reader.readexactly(size)
                await reader.readexactly(2)
        else:
            data = await reader.read()
        return Response(status, response_headers, data)
    finally:
        writer.close()


# ----------------------------------------------------------------------------------------------
# Webhook receiver: verifies Standard Webhooks signatures with the cluster's WEBHOOK_SECRET
# (the verifier of examples/webhook-receiver.py), answers 204, counts deliveries per webhook-id.


def _load_example_verifier():
    spec = importlib.util.spec_from_file_location("baton_webhook_receiver", ROOT / "examples" / "webhook-receiver.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.decode_secret, module.verify


class WebhookReceiver:
    def __init__(self, secret: str):
        decode_secret, self._verify = _load_example_verifier()
        self._key = decode_secret(secret)
        self.deliveries: dict[str, list[dict]] = collections.defaultdict(list)  # acknowledged (204)
        self.rejected = 0  # bad signature or stale timestamp: answered 401
        self.url = ""
        self._server = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._server:
            self._server.close()

    async def _serve(self, reader, writer) -> None:
        try:
            while True:  # keep-alive: Baton (libcurl) reuses connections
                line = await reader.readline()
                if not line:
                    return
                headers = {}
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                msg_id = headers.get("webhook-id", "")
                if self._verify(self._key, msg_id, headers.get("webhook-timestamp", ""), body,
                                headers.get("webhook-signature", "")):
                    try:
                        event = json.loads(body)
                    except ValueError:
                        event = {}
                    self.deliveries[msg_id].append({"at": time.monotonic(), "event": event})
                    status = "204 No Content"
                else:
                    self.rejected += 1
                    status = "401 Unauthorized"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return  # the sender went away, or the run ends
        finally:
            writer.close()


# ----------------------------------------------------------------------------------------------
# The cluster: env file, cluster.sh, monitoring.


class Cluster:
    def __init__(self, script: str, env_file: str):
        self.script = script
        env = {}
        for line in Path(env_file).read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                env[name.strip()] = value.strip().strip('"').strip("'")
        self.env = env
        self.nginx = env["GATEWAY_URL"]
        self.gateways = env["GATEWAY_URLS"].split(",")  # gateway-1, gateway-2
        self.nats = env["NATS_URLS"].split(",")  # nats-1, nats-2, nats-3
        if env.get("NATS_MONITOR_URLS"):
            self.monitors = env["NATS_MONITOR_URLS"].split(",")
        else:  # nats/cluster/nN.conf: monitoring port = client port + 4000
            self.monitors = [f"http://127.0.0.1:{urlsplit(url).port + 4000}" for url in self.nats]
        self.secret = env["WEBHOOK_SECRET"]

    async def run(self, *args: str, env: dict | None = None, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            self.script, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})})
        out, _ = await process.communicate()
        if check and process.returncode != 0:
            raise RuntimeError(f"{self.script} {' '.join(args)} failed ({process.returncode}): {out.decode()[-2000:]}")
        return out.decode()

    async def signal(self, name: str, sig: str) -> None:
        await self.run("kill", name, sig)

    async def restart(self, name: str, env: dict | None = None) -> None:
        await self.run("stop", name, check=False)
        await self.run("start", name, env=env)

    async def status(self) -> dict:
        """name -> True when cluster.sh reports it running and healthy (not dead, stopped, paused
        or not ready)."""
        out = await self.run("status", check=False)
        alive = {}
        for line in out.splitlines():
            words = line.split()
            if len(words) >= 2 and re.fullmatch(r"(nats|gateway|worker)-\d|nginx", words[0]):
                state = words[2] if len(words) > 2 and words[1].isdigit() else words[1]
                alive[words[0]] = state in ("running", "up") and "not ready" not in line.lower()
        return alive

    async def jsz(self, monitor: str) -> dict:
        response = await http(monitor, "GET", "/jsz?accounts=true&streams=true&consumers=true&config=true", timeout=5)
        return json.loads(response.body)

    @staticmethod
    def streams_of(jsz: dict) -> dict:
        return {s["name"]: s for a in jsz.get("account_details", []) for s in a.get("stream_detail", [])}

    async def wait_services(self, workers: int, timeout: float = 30) -> bool:
        """Until every gateway lists `workers` live instances of echo and slow."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = True
            for gateway in self.gateways:
                try:
                    services = json.loads((await http(gateway, "GET", "/v1/services", timeout=5)).body)["services"]
                    counts = {s["name"]: len(s.get("instances", [])) for s in services}
                    ok = ok and counts.get("echo", 0) >= workers and counts.get("slow", 0) >= workers
                except (TransportError, ValueError, KeyError):
                    ok = False
            if ok:
                return True
            await asyncio.sleep(0.5)
        return False


# ----------------------------------------------------------------------------------------------
# The ledger: one entry per job a client submitted.


@dataclasses.dataclass
class Job:
    seq: int
    phase: str
    service: str  # echo | slow | echo-fast
    mode: str  # sync | async
    group: str  # which clients: nginx, gateway-1, gateway-2, burst
    body: bytes
    content_type: str
    expected: tuple  # (status, content type, body) of the right answer
    callback: bool
    idempotency_key: str | None
    id: str | None = None
    accepted_by: str | None = None  # base URL that gave the 200/202
    first: str = ""  # "200", "202", or the error kind of the first call
    answered_sync: bool = False  # the first call itself returned the answer
    latency: float = 0.0
    retries: int = 0
    reads: list = dataclasses.field(default_factory=list)  # (source, (status, ctype, body))
    records: list = dataclasses.field(default_factory=list)  # terminal record snapshots
    state: str = ""
    attempts: int = 0
    stale_reads: int = 0  # reads after it ended that showed it unknown (404) or unfinished


def answer_of(response: Response) -> tuple:
    return (response.status, response.headers.get("content-type", ""), response.body)


class Ledger:
    def __init__(self):
        self.jobs: list[Job] = []
        self.by_body: dict[bytes, Job] = {}
        self._seq = 0

    def new(self, phase: str, service: str, mode: str, group: str, callback: bool, idempotent: bool) -> Job:
        self._seq += 1
        tag = f"{phase}/{self._seq}/{uuid.uuid4().hex}"
        if service == "slow":
            ms = random.randint(300, 1500) if phase != "worker-pause" else random.randint(1000, 2500)
            if phase == "burst":
                ms = 2000
            body = json.dumps({"ms": ms, "steps": 3, "tag": tag}).encode()
            job = Job(self._seq, phase, service, mode, group, body, "application/json",
                      (200, "application/json", f'{{"slept_ms":{ms}}}'.encode()), callback,
                      uuid.uuid4().hex if idempotent else None)
        else:
            if random.random() < 0.2:  # binary bodies too: answers must be byte-equal
                body = f"chaos {tag} ".encode() + os.urandom(random.randint(16, 2048))
                ctype = "application/octet-stream"
            else:
                body = f"chaos {tag} {'x' * random.randint(0, 200)}".encode()
                ctype = "text/plain; charset=utf-8"
            job = Job(self._seq, phase, service, mode, group, body, ctype, (200, ctype, body), callback,
                      uuid.uuid4().hex if idempotent else None)
        self.jobs.append(job)
        self.by_body[job.body] = job
        return job


# ----------------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------------
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
    or unfinished again is a stale read (counted apart: not an answer, not a state)."""
    for i, gateway in enumerate(cluster.gateways):
        for _ in range(3):
            try:
                result = await http(gateway, "GET", f"/v1/jobs/{job.id}/result", timeout=10)
                status = await http(gateway, "GET", f"/v1/jobs/{job.id}", timeout=10)
            except TransportError:
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
    for seq, reasons in list(counts.duplicated.items())[:10]:
        job = next(j for j in jobs if j.seq == seq)
        print(f"  DUPLICATED job {job.id} ({job.service} {job.mode}): {', '.join(reasons)}")
    for failure in stats.failures[:10]:
        print(f"  CHECK FAILED: {failure}")
    ok = lost == 0 and duplicated == 0 and not stats.failures
    print(f"  => {'ok' if ok else 'FAILED'}")
    return ok


# ----------------------------------------------------------------------------------------------
# The faults.


class Chaos:
    def __init__(self, cluster: Cluster, rate: float, concurrency: int):
        self.cluster = cluster
        self.rate = rate
        self.worker_concurrency = concurrency
        self.ledger = Ledger()
        self.receiver = WebhookReceiver(cluster.secret)
        self.results: list[tuple[str, bool]] = []
        self.restore_workers = False

    def jobs_of(self, phase: str) -> list[Job]:
        return [job for job in self.ledger.jobs if job.phase == phase]

    async def ack_wait(self) -> float:
        """The ack wait of the durable consumers (seconds), from the first monitor that answers."""
        for monitor in self.cluster.monitors:
            try:
                jsz = await self.cluster.jsz(monitor)
            except (TransportError, ValueError):
                continue
            for stream in self.cluster.streams_of(jsz).values():
                for consumer in stream.get("consumer_detail", []) or []:
                    if consumer["name"].startswith("baton-slow-"):
                        return consumer["config"]["ack_wait"] / 1e9
        return 30.0

    async def probe(self, stats: PhaseStats) -> None:
        """After the fault: each gateway, and nginx, still runs a sync job end to end."""
        for base in self.cluster.gateways + [self.cluster.nginx]:
            body = f"probe {uuid.uuid4().hex}".encode()
            try:
                response = await http(base, "POST", "/v1/jobs/echo", {"Content-Type": "text/plain"}, body, 25)
                ok = response.status == 200 and response.body == body
                detail = f"{response.status}"
            except TransportError as error:
                ok, detail = False, error.kind
            stats.check(ok, f"probe job through {base} after the fault: {detail}")

    async def finish_phase(self, stats: PhaseStats, load: Load, settle_until: float, extra=None) -> None:
        await load.stop()
        jobs = self.jobs_of(stats.name)
        await settle(jobs, self.cluster, settle_until, stats)
        # Webhooks: wait (until the same deadline) for every expected one.
        while time.monotonic() < settle_until:
            missing = [j for j in jobs if j.id and j.callback and j.first == "202" and j.id not in self.receiver.deliveries]
            if not missing:
                break
            await asyncio.sleep(0.5)
        if extra:
            await extra(jobs)
        await asyncio.sleep(1.0)  # late duplicates of webhooks have a chance to show
        await self.probe(stats)
        # Every process is back and healthy. A restarted nats-server answers /healthz with 503
        # until its streams are current, which can take a while after the 2.9.10 replica bug
        # made it reset a stream: give it time, bounded.
        healthy_by = time.monotonic() + 30
        while True:
            alive = await self.cluster.status()
            unhealthy = [name for name, up in alive.items() if not up]
            if not unhealthy or time.monotonic() > healthy_by:
                break
            await asyncio.sleep(1.0)
        stats.check(not unhealthy, f"processes not running or not healthy 30 s after the phase: {unhealthy}")
        counts = count(jobs, self.ledger, self.receiver)
        self.results.append((stats.name, report(stats, counts, self.receiver, jobs)))

    # 0. no fault (not in the default run): what the load alone does, to tell faults' effects apart.
    async def baseline(self) -> None:
        stats = PhaseStats("baseline")
        load = Load(self.ledger, stats, self.receiver, {"nginx": [self.cluster.nginx]}, self.rate)
        load.start()
        await asyncio.sleep(20)
        await self.finish_phase(stats, load, time.monotonic() + 40)

    # 1. kill -9 one worker mid-job.
    async def worker_kill(self) -> None:
        stats = PhaseStats("worker-kill")
        ack_wait = await self.ack_wait()
        load = Load(self.ledger, stats, self.receiver, {"nginx": [self.cluster.nginx]}, self.rate)
        load.start()
        await asyncio.sleep(6)
        await self.cluster.signal("worker-1", "KILL")
        killed = time.monotonic()
        stats.notes.append(f"worker-1 killed with SIGKILL at t=6 s (consumer ack wait {ack_wait:.0f} s); restarted at t=16 s")
        await asyncio.sleep(10)
        await self.cluster.run("start", "worker-1")
        await asyncio.sleep(6)

        async def redelivered(jobs) -> None:
            stats.check(any(j.attempts >= 2 for j in jobs), "no job was redelivered: the worker was not killed mid-job")

        await self.finish_phase(stats, load, killed + ack_wait + 20, extra=redelivered)

    # 2. kill -9 one gateway.
    async def gateway_kill(self) -> None:
        stats = PhaseStats("gateway-kill")
        gw1, gw2 = self.cluster.gateways
        groups = {"nginx": [self.cluster.nginx], "gateway-1": [gw1, gw2], "gateway-2": [gw2]}
        load = Load(self.ledger, stats, self.receiver, groups, self.rate)
        load.start()
        await asyncio.sleep(6)
        await self.cluster.signal("gateway-1", "KILL")
        killed = time.monotonic()
        await asyncio.sleep(4)
        # Jobs gateway-1 accepted before it died are known to gateway-2 during the outage.
        accepted_by_gw1 = [j for j in self.jobs_of(stats.name) if j.accepted_by == gw1 and j.id]
        unknown = 0
        for job in accepted_by_gw1:
            try:
                response = await http(gw2, "GET", f"/v1/jobs/{job.id}", timeout=10)
                unknown += response.status != 200
            except TransportError:
                unknown += 1
        stats.notes.append(f"gateway-1 killed with SIGKILL at t=6 s, restarted at t=16 s; during its outage gateway-2"
                           f" knew {len(accepted_by_gw1) - unknown} of the {len(accepted_by_gw1)} jobs gateway-1 had accepted")
        stats.check(unknown == 0, f"{unknown} jobs accepted by gateway-1 unknown to gateway-2 during the outage")
        await asyncio.sleep(6)
        await self.cluster.run("start", "gateway-1")
        await asyncio.sleep(6)
        webhook_ack_wait = 30.0  # gateways' default --webhook-ack-wait (timeout 15 s + 15 s)

        async def survivor_clean(_jobs) -> None:  # clients of the surviving gateway must see nothing
            errors = dict(stats.errors["gateway-2"])
            stats.check(not errors, f"clients of gateway-2 (the survivor) saw errors: {errors}")

        await self.finish_phase(stats, load, killed + webhook_ack_wait + 15, extra=survivor_clean)

    # 3. kill -9 one nats-server of three.
    async def nats_kill(self) -> None:
        stats = PhaseStats("nats-kill")
        # The victim: a node Baton clients are connected to (they must reconnect) that leads the most
        # streams and buckets (each needs an election), the JetStream meta leader counting as one.
        jsz = await self.cluster.jsz(self.cluster.monitors[0])
        leaders = collections.Counter(s.get("cluster", {}).get("leader") for s in self.cluster.streams_of(jsz).values())
        leaders[(jsz.get("meta_cluster") or {}).get("leader")] += 1
        before = await self.baton_connections()
        server_names = [json.loads((await http(m, "GET", "/varz", timeout=5)).body).get("server_name") for m in self.cluster.monitors]
        victim = max(range(len(server_names)), key=lambda i: (len(before[i]) > 0, leaders[server_names[i]]))
        name = f"nats-{victim + 1}"
        clients = ", ".join(f"{n} x{c}" for n, c in sorted(collections.Counter(before[victim]).items())) or "none"
        leader = f"{leaders[server_names[victim]]} of {sum(leaders.values())} stream/meta leaderships"
        load = Load(self.ledger, stats, self.receiver, {"nginx": [self.cluster.nginx]}, self.rate)
        load.start()
        await asyncio.sleep(6)
        await self.cluster.signal(name, "KILL")
        killed = time.monotonic()
        await asyncio.sleep(10)
        await self.cluster.run("start", name)
        restarted = time.monotonic()
        await asyncio.sleep(6)
        stats.notes.append(f"{name} (server {server_names[victim]}, {leader}; clients on it: {clients})"
                           f" killed with SIGKILL at t=6 s, restarted at t=16 s")

        async def caught_up(_jobs) -> None:
            ok, detail = await self.wait_caught_up(victim, deadline=time.monotonic() + 30)
            stats.notes.append(f"{name} after restart: {detail} ({time.monotonic() - restarted:.1f} s after its start)")
            stats.check(ok, f"{name} did not catch up: {detail}")
            after = await self.baton_connections()
            total_before, total_after = sum(map(len, before)), sum(map(len, after))
            stats.notes.append(f"Baton NATS connections: {total_before} before the kill, {total_after} after"
                               f" ({', '.join(f'{server_names[i]}: {len(c)}' for i, c in enumerate(after))})")
            stats.check(total_after >= total_before, f"clients did not reconnect: {total_after} of {total_before} connections")

        await self.finish_phase(stats, load, killed + 45, extra=caught_up)

    async def baton_connections(self) -> list[list[str]]:
        """Per node, the names of the Baton processes connected to it (/connz)."""
        nodes = []
        for monitor in self.cluster.monitors:
            try:
                connz = json.loads((await http(monitor, "GET", "/connz?limit=1000", timeout=5)).body)
                nodes.append([c.get("name", "") for c in connz.get("connections", []) if c.get("name", "").startswith("baton")])
            except (TransportError, ValueError):
                nodes.append([])
        return nodes

    async def wait_caught_up(self, node: int, deadline: float) -> tuple[bool, str]:
        """Until every stream on `node` is current: its local last sequence and message count equal
        the leader's, and the leader reports the node's replica current."""
        detail = "monitoring unreachable"
        settled, desynced, note, mine = False, [], "", {}
        while time.monotonic() < deadline:
            try:
                snapshots = [await self.cluster.jsz(m) for m in self.cluster.monitors]
                names = [json.loads((await http(m, "GET", "/varz", timeout=5)).body)["server_name"] for m in self.cluster.monitors]
            except (TransportError, ValueError, KeyError):
                await asyncio.sleep(1)
                continue
            mine = self.cluster.streams_of(snapshots[node])
            behind = []
            # nats-server 2.9.10 bug: a work-queue replica restarted after SIGKILL can keep
            # messages its leader already deleted (acknowledged jobs) although it has the same
            # last sequence and the leader reports it current. Nothing is lost and the jobs are
            # not redelivered; it is reported, not failed (fixed in later nats-server releases).
            leftovers = []
            desynced = []
            for stream_name, stream in sorted(mine.items()):
                leader = stream.get("cluster", {}).get("leader")
                if leader not in names:
                    behind.append(f"{stream_name}: no leader")
                    continue
                theirs = self.cluster.streams_of(snapshots[names.index(leader)]).get(stream_name, {})
                replica = next((r for r in theirs.get("cluster", {}).get("replicas", []) or [] if r.get("name") == names[node]), None)
                same = (stream["state"]["last_seq"], stream["state"]["messages"]) == (theirs.get("state", {}).get("last_seq"), theirs.get("state", {}).get("messages"))
                if leader != names[node] and not (same and replica and replica.get("current")):
                    mine_state, leader_state = stream["state"], theirs.get("state", {})
                    detail = (f"{stream_name}: last_seq/messages {mine_state['last_seq']}/{mine_state['messages']}"
                              f" vs leader {leader} {leader_state.get('last_seq')}/{leader_state.get('messages')},"
                              f" leader says current={replica and replica.get('current')}")
                    if (mine_state["last_seq"] == leader_state.get("last_seq") and mine_state["messages"] > leader_state.get("messages", 0)
                            and replica and replica.get("current")):
                        leftovers.append(f"{stream_name}: {mine_state['messages'] - leader_state.get('messages', 0)} messages"
                                         " its leader deleted")
                        continue
                    # nats-server 2.9 catch-up defect (fixed in 2.10: nats-server#5054, #5362): the
                    # restarted replica holds every message its leader has and the leader reports it
                    # current, but its sequence numbers stay out of step (it kept writes it took as
                    # leader that were never committed). Reported when it lasts to the deadline;
                    # Baton reads records defensively (a stale or missing record is read again).
                    if (mine_state["messages"] == leader_state.get("messages") and replica and replica.get("current")):
                        desynced.append(detail)
                        continue
                    behind.append(detail)
            settled = len(mine) >= 7 and not behind
            notes = [f"{n} (nats-server 2.9.10 work-queue replica bug)" for n in leftovers]
            notes += [f"{d}: sequence numbers out of step, same messages (nats-server 2.9 catch-up defect)" for d in desynced]
            note = f"; WARNING, known server bug: {'; '.join(notes)}" if notes else ""
            if settled and not desynced:
                return True, f"all {len(mine)} streams current (same last sequence as their leaders, leader reports current){note}"
            detail = "; ".join(behind + desynced) or f"{len(mine)} streams"
            await asyncio.sleep(1)
        if settled and desynced:  # lasted to the deadline: the defect, not a slow catch-up
            return True, f"all {len(mine)} streams hold their leaders' messages, leader reports current{note}"
        return False, detail

    # 4. pause a worker longer than the ack wait.
    async def worker_pause(self) -> None:
        stats = PhaseStats("worker-pause")
        short = 3
        for worker in ("worker-1", "worker-2"):
            await self.cluster.restart(worker, env={"BATON_ACK_WAIT": f"{short}s"})
        self.restore_workers = True
        ack_wait = await self.ack_wait()
        ready = await self.cluster.wait_services(2)
        stats.check(abs(ack_wait - short) < 0.01, f"the workers did not take BATON_ACK_WAIT={short}s (consumer ack wait {ack_wait} s)")
        stats.check(ready, "the restarted workers did not register")
        mix = [(30, "echo", "sync", False), (20, "echo", "async", True), (25, "slow", "sync", False), (25, "slow", "async", True)]
        load = Load(self.ledger, stats, self.receiver, {"nginx": [self.cluster.nginx]}, self.rate * 0.6, mix=mix)
        load.start()
        await asyncio.sleep(5)
        pause = 10
        await self.cluster.signal("worker-1", "STOP")
        await asyncio.sleep(pause)
        # Before the paused worker resumes: read every ended job (its first read).
        await read_all(self.jobs_of(stats.name), self.cluster, "before-resume")
        await self.cluster.signal("worker-1", "CONT")
        stats.notes.append(f"worker-1 stopped (SIGSTOP) for {pause} s at t=5 s, consumer ack wait {ack_wait:.0f} s; resumed with SIGCONT")
        await asyncio.sleep(8)

        async def after_resume(jobs_now) -> None:
            await asyncio.sleep(3)  # the stale worker's late answers have landed (or not)
            await read_all(jobs_now, self.cluster, "after-resume")
            redelivered = sum(1 for j in jobs_now if j.id and j.attempts >= 2)
            stats.check(redelivered > 0, "no job was redelivered: the paused worker held none")

        await self.finish_phase(stats, load, time.monotonic() + 30, extra=after_resume)

    # 5. a burst of 10x the workers' capacity against a small queue bound.
    async def burst(self) -> None:
        stats = PhaseStats("burst")
        bound = 40
        for worker in ("worker-1", "worker-2"):
            await self.cluster.restart(worker, env={"BATON_MAX_QUEUED": str(bound)})
        self.restore_workers = True
        ready = await self.cluster.wait_services(2)
        stats.check(ready, "the restarted workers did not register")
        jsz = await self.cluster.jsz(self.cluster.monitors[0])
        configured = self.cluster.streams_of(jsz).get("BATON_JOBS", {}).get("config", {}).get("max_msgs_per_subject")
        stats.check(configured == bound, f"BATON_JOBS max_msgs_per_subject is {configured}, not {bound}")
        capacity = 2 * self.worker_concurrency
        size = 10 * capacity
        # A light steady load of echo goes on meanwhile (its own queue: it must not notice).
        load = Load(self.ledger, stats, self.receiver, {"nginx": [self.cluster.nginx]}, self.rate * 0.3,
                    mix=[(60, "echo", "sync", False), (40, "echo", "async", True)])
        load.start()
        await asyncio.sleep(2)
        burst_jobs = []
        for i in range(size):
            job = self.ledger.new(stats.name, "slow", "sync" if i % 2 else "async", "burst", callback=i % 4 == 0, idempotent=False)
            burst_jobs.append(job)
        started = time.monotonic()
        await asyncio.gather(*(submit(job, [self.cluster.nginx], stats, self.receiver) for job in burst_jobs))
        took = time.monotonic() - started
        kinds = collections.Counter(j.first for j in burst_jobs)
        accepted = sum(1 for j in burst_jobs if j.id)
        refused = kinds.get("503-queue-full", 0)
        stats.notes.append(f"burst: {size} slow calls (2 s each) at once = 10 x {capacity} handler slots, queue bound {bound}:"
                           f" accepted {accepted}, refused 503 queue-full {refused}; every call answered within {took:.1f} s;"
                           f" outcomes {dict(kinds)}")
        stats.check(refused > 0, "the queue bound never refused a job")
        stats.check(set(kinds) <= {"200", "202", "503-queue-full"}, f"burst calls with other outcomes: {dict(kinds)}")
        await asyncio.sleep(3)
        await self.finish_phase(stats, load, time.monotonic() + 40)

    async def final_reread(self) -> bool:
        """Re-reads the answer of every accepted job of the run: none may have changed since."""
        jobs = [j for j in self.ledger.jobs if j.id and j.state == "succeeded"]
        semaphore = asyncio.Semaphore(64)
        changed, stale = [], []

        async def one(job: Job) -> None:
            async with semaphore:
                gateway = random.choice(self.cluster.gateways)
                try:
                    response = await http(gateway, "GET", f"/v1/jobs/{job.id}/result", timeout=10)
                except TransportError:
                    return
                if response.status == 202 or response.problem_type() == "/problems/unknown-job":
                    stale.append(job)
                elif answer_of(response) != job.expected:
                    changed.append(job)

        await asyncio.gather(*(one(job) for job in jobs))
        print(f"\n=== final re-read of the {len(jobs)} finished jobs of every phase: {len(changed)} answers changed"
              f" ({len(stale)} stale reads: unknown or unfinished)")
        late_duplicates = [j for j in self.ledger.jobs if j.id and len(self.receiver.deliveries.get(j.id, [])) > 1]
        print(f"=== webhooks over the whole run: {sum(len(v) for v in self.receiver.deliveries.values())} acknowledged,"
              f" {len(late_duplicates)} job(s) with more than one, {self.receiver.rejected} rejected signatures")
        return not changed and not late_duplicates and self.receiver.rejected == 0

    async def restore(self) -> None:
        """Workers back to cluster.sh's own settings (ack wait, queue bound)."""
        if self.restore_workers:
            for worker in ("worker-1", "worker-2"):
                await self.cluster.restart(worker)
            self.restore_workers = False


PHASES = {
    "baseline": Chaos.baseline,
    "worker-kill": Chaos.worker_kill,
    "gateway-kill": Chaos.gateway_kill,
    "nats-kill": Chaos.nats_kill,
    "worker-pause": Chaos.worker_pause,
    "burst": Chaos.burst,
}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster-sh", default=str(ROOT / "deploy" / "local" / "cluster.sh"))
    parser.add_argument("--env", default=str(ROOT / ".cluster" / "env"), help="the cluster's env file")
    parser.add_argument("--phases", default=",".join(p for p in PHASES if p != "baseline"),
                        help=f"comma-separated, in order, of: {', '.join(PHASES)} (default: all but baseline)")
    parser.add_argument("--rate", type=float, default=float(os.environ.get("CHAOS_RATE", 60)), help="durable calls per second")
    parser.add_argument("--worker-concurrency", type=int, default=0,
                        help="the workers' --concurrency (default: CONCURRENCY of the cluster's settings file, else 16)")
    args = parser.parse_args()
    cluster = Cluster(args.cluster_sh, args.env)
    concurrency = args.worker_concurrency
    settings = Path(args.env).with_name("settings")
    if not concurrency and settings.exists():
        found = re.search(r"^CONCURRENCY=(\d+)$", settings.read_text(), re.M)
        concurrency = int(found.group(1)) if found else 0
    chaos = Chaos(cluster, args.rate, concurrency or 16)
    await chaos.receiver.start()
    started = time.monotonic()
    try:
        if not await cluster.wait_services(2):
            print("the cluster is not ready: every gateway must list 2 workers of echo and slow", file=sys.stderr)
            return 2
        for name in args.phases.split(","):
            await PHASES[name](chaos)
        final_ok = await chaos.final_reread()
    finally:
        await chaos.restore()
        await chaos.receiver.stop()
    ok = final_ok and all(ok for _, ok in chaos.results)
    summary = ", ".join(f"{name} {'ok' if ok else 'FAILED'}" for name, ok in chaos.results)
    print(f"\n=== chaos: {summary} ({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # chaos.sh stops us (Ctrl-C, its timeout): the workers were restored
        print("chaos_load: interrupted", file=sys.stderr)
        sys.exit(130)
