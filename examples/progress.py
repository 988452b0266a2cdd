"""Follow Baton's jobs with nats-py (pip install nats-py): progress events, every job's end, and
the terminal events of jobs with a webhook.

    python3 examples/progress.py [nats://127.0.0.1:4222]

A job ends with one write, its answer entry in KV `baton-results`, whose headers carry the end
(`Baton-State`, `Baton-Status`, …; docs/PROTOCOL.md §2.3): subscribing to `$KV.baton-results.>`
sees each end as it is written. `baton.done.>` carries only the ends of jobs with a webhook.
"""
import asyncio
import json
import sys

import nats

END_HEADERS = ("Baton-State", "Baton-Status", "Content-Type", "Baton-Service", "Baton-Started",
               "Baton-Finished", "Baton-Attempts", "Baton-Worker", "Baton-Error")


async def main(url: str) -> None:
    nc = await nats.connect(url)

    async def show(msg):
        event = json.loads(msg.data)
        print(f"{msg.subject}: {json.dumps(event)}", flush=True)

    async def show_end(msg):
        headers = msg.headers or {}
        job = msg.subject.rsplit(".", 1)[-1]
        end = {name: headers[name] for name in END_HEADERS if name in headers}
        print(f"end of {job}: {headers.get('Baton-State', '?')} {json.dumps(end)} ({len(msg.data)} bytes)", flush=True)

    await nc.subscribe("baton.progress.>", cb=show)
    await nc.subscribe("$KV.baton-results.>", cb=show_end)
    await nc.subscribe("baton.done.>", cb=show)
    print(f"watching baton.progress.>, $KV.baton-results.> and baton.done.> on {url} (Ctrl-C stops)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await nc.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
