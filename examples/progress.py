"""Follow Baton's progress and terminal events with nats-py (pip install nats-py).

    python3 examples/progress.py [nats://127.0.0.1:4222]
"""
import asyncio
import json
import sys

import nats


async def main(url: str) -> None:
    nc = await nats.connect(url)

    async def show(msg):
        event = json.loads(msg.data)
        print(f"{msg.subject}: {json.dumps(event)}", flush=True)

    await nc.subscribe("baton.progress.>", cb=show)
    await nc.subscribe("baton.done.>", cb=show)
    print(f"watching baton.progress.> and baton.done.> on {url} (Ctrl-C stops)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await nc.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
