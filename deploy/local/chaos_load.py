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

At the end of the run, with the load stopped and every accepted job finished, no job record may
still say `queued` a minute after it was made (`GET /v1/jobs?state=queued`, each one read again):
such a record stands for a job no queue holds — the jobs whose clients got no acceptance
included, such as a job recorded before its publish by a gateway killed in between.

The process exits non-zero when any phase has lost > 0, duplicated-effects > 0 or a failed check
(errors on the surviving gateway, a hang or crash in the burst, a node that did not catch up…),
or a record is still queued at the end.

The code is in deploy/local/chaos/: net (HTTP client), receiver (webhooks), cluster, ledger,
load, verdict (settling, counting, the report) and faults (one phase each).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path

from chaos.cluster import Cluster
from chaos.faults import PHASES, Chaos
from chaos.verdict import queued_for_ever

ROOT = Path(__file__).resolve().parents[2]


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
        await chaos.start()
        for name in args.phases.split(","):
            await PHASES[name](chaos)
        final_ok = await chaos.final_reread()
        stuck = await queued_for_ever(cluster)
        print(f"=== records still queued a minute after they were made, with every accepted job finished: {len(stuck)}"
              + (f" ({', '.join(stuck[:10])})" if stuck else ""))
        final_ok = final_ok and not stuck
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
