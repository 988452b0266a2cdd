"""The ledger: one entry per job a client submitted."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import uuid

from .net import Response

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
