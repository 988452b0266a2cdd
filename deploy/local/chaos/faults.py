"""The faults, one phase each."""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
import uuid

from .cluster import Cluster
from .ledger import answer_of, Job, Ledger
from .load import Load, PhaseStats, submit
from .net import http, TransportError
from .receiver import WebhookReceiver
from .server import ServerVersion
from .verdict import count, read_all, report, settle


class Chaos:
    def __init__(self, cluster: Cluster, rate: float, concurrency: int):
        self.cluster = cluster
        self.rate = rate
        self.worker_concurrency = concurrency
        self.ledger = Ledger()
        self.receiver = WebhookReceiver(cluster.secret)
        self.results: list[tuple[str, bool]] = []
        self.restore_workers = False
        self.restore_gateways = False
        self.server = ServerVersion(0, 0, 0)  # the nats-server the nodes run (the oldest): see start()

    async def start(self) -> None:
        """Before the first phase: the nats-server version, from the nodes' /varz."""
        self.server = await self.cluster.server_version()
        defects = [name for name, has in (("work-queue replica leftover", self.server.has_workqueue_leftover_defect),
                                          ("catch-up", self.server.has_catchup_defect)) if has]
        print(f"chaos: nats-server {self.server} (the nodes' /varz; the oldest if they differ)"
              + (f"; its known defects ({', '.join(defects)}) are reported, not failed" if defects else
                 "; no known defect: a replica that does not catch up fails the run"))

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
        # until its streams are current, which can take a while (longer when it had to reset a
        # stream): give it time, bounded.
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
        the leader's, and the leader reports the node's replica current. A replica still showing
        a known defect of this nats-server (server.py) at the deadline is reported, not failed;
        on a server without that defect it is a replica that never caught up, and fails."""
        detail, settled, known, mine = "monitoring unreachable", False, [], {}
        while time.monotonic() < deadline:
            try:
                snapshots = [await self.cluster.jsz(m) for m in self.cluster.monitors]
                names = [json.loads((await http(m, "GET", "/varz", timeout=5)).body)["server_name"] for m in self.cluster.monitors]
            except (TransportError, ValueError, KeyError):
                await asyncio.sleep(1)
                continue
            mine = self.cluster.streams_of(snapshots[node])
            behind, known = [], []
            for stream_name, stream in sorted(mine.items()):
                leader = stream.get("cluster", {}).get("leader")
                if leader not in names:
                    behind.append(f"{stream_name}: no leader")
                    continue
                if leader == names[node]:
                    continue
                theirs = self.cluster.streams_of(snapshots[names.index(leader)]).get(stream_name, {})
                replica = next((r for r in theirs.get("cluster", {}).get("replicas", []) or [] if r.get("name") == names[node]), None)
                current = bool(replica and replica.get("current"))
                ours, leaders = stream["state"], theirs.get("state", {})
                if (ours["last_seq"], ours["messages"]) == (leaders.get("last_seq"), leaders.get("messages")) and current:
                    continue
                stream_detail = (f"{stream_name}: last_seq/messages {ours['last_seq']}/{ours['messages']}"
                                 f" vs leader {leader} {leaders.get('last_seq')}/{leaders.get('messages')},"
                                 f" leader says current={current}")
                defect = self.replica_defect(ours, leaders, current)
                if defect and defect[1]:
                    known.append(f"{stream_detail} ({defect[0]})")
                else:
                    behind.append(stream_detail + (f"; looks like the known {defect[0]}, which"
                                                   f" nats-server {self.server} does not have" if defect else ""))
            settled = len(mine) >= 7 and not behind
            if settled and not known:
                return True, f"all {len(mine)} streams current (same last sequence and messages as their leaders, leader reports current)"
            detail = "; ".join(behind + known) or f"{len(mine)} streams"
            await asyncio.sleep(1)
        if settled:  # only known defects of this server, lasting to the deadline: reported
            return True, (f"all {len(mine)} streams hold their leaders' messages, leader reports current;"
                          f" WARNING, known nats-server {self.server} defect: {'; '.join(known)}")
        return False, detail

    def replica_defect(self, ours: dict, leaders: dict, current: bool) -> tuple[str, bool] | None:
        """(which known nats-server defect a replica's state looks like, whether this server has
        it), or None when it looks like none of them (a replica behind, or catching up)."""
        if not current:
            return None
        if ours["last_seq"] == leaders.get("last_seq") and ours["messages"] > leaders.get("messages", 0):
            return (f"work-queue replica leftover defect: {ours['messages'] - leaders.get('messages', 0)} messages its leader deleted",
                    self.server.has_workqueue_leftover_defect)
        if ours["messages"] == leaders.get("messages"):
            return "catch-up defect: sequence numbers out of step, same messages", self.server.has_catchup_defect
        return None

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
        # --max-queued lowered on a running cluster (its streams were made with cluster.sh's
        # bound): no process lowers the stream's bound, which would delete queued jobs; each
        # gateway keeps the lower bound itself (docs/NATS-SERVERS.md).
        before = await self.jobs_bound()
        for name in ("worker-1", "worker-2", "gateway-1", "gateway-2"):
            await self.cluster.restart(name, env={"BATON_MAX_QUEUED": str(bound)})
        self.restore_workers = True
        self.restore_gateways = True
        ready = await self.cluster.wait_services(2)
        stats.check(ready, "the restarted workers did not register")
        after = await self.jobs_bound()
        stats.check(after == before, f"BATON_JOBS max_msgs_per_subject went from {before} to {after}:"
                                     f" a lower --max-queued must not lower the stream's bound")
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
        stats.notes.append(f"burst: {size} slow calls (2 s each) at once = 10 x {capacity} handler slots, queue bound {bound}"
                           f" per gateway (the stream's stays {after}):"
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
        """Workers and gateways back to cluster.sh's own settings (ack wait, queue bound)."""
        if self.restore_workers:
            for worker in ("worker-1", "worker-2"):
                await self.cluster.restart(worker)
            self.restore_workers = False
        if self.restore_gateways:
            for gateway in ("gateway-1", "gateway-2"):
                await self.cluster.restart(gateway)
            self.restore_gateways = False

    async def jobs_bound(self) -> int | None:
        """BATON_JOBS's max_msgs_per_subject, as the first node reports it."""
        jsz = await self.cluster.jsz(self.cluster.monitors[0])
        return self.cluster.streams_of(jsz).get("BATON_JOBS", {}).get("config", {}).get("max_msgs_per_subject")


PHASES = {
    "baseline": Chaos.baseline,
    "worker-kill": Chaos.worker_kill,
    "gateway-kill": Chaos.gateway_kill,
    "nats-kill": Chaos.nats_kill,
    "worker-pause": Chaos.worker_pause,
    "burst": Chaos.burst,
}
