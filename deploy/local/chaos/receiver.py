"""The chaos test's webhook receiver."""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import json
import time
from pathlib import Path

from .net import read_headers

ROOT = Path(__file__).resolve().parents[3]  # the repository

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
                headers = await read_headers(reader)
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
