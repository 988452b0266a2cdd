"""The local cluster as the chaos test sees it: env file, cluster.sh, monitoring."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from .net import http, TransportError
from .server import oldest, ServerVersion

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

    async def server_version(self) -> ServerVersion:
        """The nats-server version the nodes report (/varz "version"); the oldest when they differ."""
        versions = []
        for monitor in self.monitors:
            try:
                versions.append(json.loads((await http(monitor, "GET", "/varz", timeout=5)).body)["version"])
            except (TransportError, ValueError, KeyError):
                continue
        if not versions:
            raise RuntimeError(f"no nats-server monitor answered /varz: {self.monitors}")
        if len(set(versions)) > 1:
            print(f"chaos: the nodes run different nats-server versions: {', '.join(versions)}; the oldest counts")
        return oldest(versions)

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
