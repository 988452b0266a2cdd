"""A minimal HTTP/1.1 client on asyncio streams, for the chaos test."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from urllib.parse import urlsplit


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
        response_headers = await read_headers(reader)
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


async def read_headers(reader: asyncio.StreamReader) -> dict:
    """HTTP/1.1 header lines up to the blank line, names lower-cased."""
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
