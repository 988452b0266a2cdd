#!/usr/bin/env python3
"""Checks a Baton service's NATS micro-service answers (ADR-32) with an independent client.

Usage: micro_check.py NATS_URL SERVICE [--lane fast|durable] [--worker ID]
                      [--min-requests N] [--min-errors N]

Sends $SRV.PING, $SRV.INFO and $SRV.STATS (and the .<name> and .<name>.<id> forms), collects
every reply on an inbox, and checks each answer of SERVICE field by field against the JSON
schemas io.nats.micro.v1.{ping,info,stats}_response that the `nats` CLI validates with.
Exits 0 when all is well, 1 with a message per mismatch otherwise (2: cannot run at all).
Needs nats-py (`python3 -m pip install nats-py`).
"""

import argparse
import asyncio
import json
import re
import sys
from datetime import datetime

try:
    import nats
    import nats.errors
except ImportError:  # pragma: no cover
    print("micro_check: nats-py is not installed (python3 -m pip install nats-py)", file=sys.stderr)
    sys.exit(2)

try:  # nats-py's own micro models, when this version has them: a second, independent parse.
    from nats.micro.service import ServiceInfo, ServicePing, ServiceStats
except ImportError:  # pragma: no cover
    ServiceInfo = ServicePing = ServiceStats = None

NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
INT64 = (-(2**63) + 1, 2**63 - 1)
TYPES = {
    "PING": "io.nats.micro.v1.ping_response",
    "INFO": "io.nats.micro.v1.info_response",
    "STATS": "io.nats.micro.v1.stats_response",
}

problems = []


def fail(where, message):
    problems.append(f"{where}: {message}")


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]


def check_string_map(where, value):
    """metadata: an object of strings (or null, which Baton never sends)."""
    if not isinstance(value, dict):
        fail(where, f"must be an object of strings, got {value!r}")
        return
    for key, item in value.items():
        if not isinstance(item, str):
            fail(where, f"value of {key!r} must be a string, got {item!r}")


def check_identity(where, reply, verb, args):
    allowed = {"type", "name", "id", "version", "metadata"}
    if verb == "INFO":
        allowed |= {"description", "endpoints"}
    if verb == "STATS":
        allowed |= {"started", "endpoints"}
    for key in ("type", "name", "id", "version", "metadata") + (("description", "endpoints") if verb == "INFO" else ()) + (
        ("started", "endpoints") if verb == "STATS" else ()
    ):
        if key not in reply:
            fail(where, f"missing required field {key!r}")
    for key in reply:
        if key not in allowed:
            fail(where, f"unexpected field {key!r}")
    if reply.get("type") != TYPES[verb]:
        fail(where, f"type must be {TYPES[verb]!r}, got {reply.get('type')!r}")
    if not isinstance(reply.get("name"), str) or not NAME.match(reply.get("name", "")):
        fail(where, f"name must match {NAME.pattern}, got {reply.get('name')!r}")
    if not isinstance(reply.get("id"), str) or not reply.get("id"):
        fail(where, f"id must be a non-empty string, got {reply.get('id')!r}")
    if not isinstance(reply.get("version"), str) or not SEMVER.match(reply.get("version", "")):
        fail(where, f"version must be SemVer, got {reply.get('version')!r}")
    metadata = reply.get("metadata")
    check_string_map(f"{where}.metadata", metadata)
    if isinstance(metadata, dict):
        if metadata.get("baton") != "1":
            fail(where, f"metadata.baton must be '1', got {metadata.get('baton')!r}")
        if metadata.get("lane") not in ("fast", "durable"):
            fail(where, f"metadata.lane must be fast|durable, got {metadata.get('lane')!r}")
        elif args.lane and metadata.get("lane") != args.lane:
            fail(where, f"metadata.lane must be {args.lane!r}, got {metadata.get('lane')!r}")
        if not isinstance(metadata.get("worker"), str) or not metadata.get("worker"):
            fail(where, "metadata.worker must be a non-empty string")


def expected_endpoint(args, lane):
    if lane == "fast":
        return f"baton.svc.{args.service}", f"baton.{args.service}"
    return f"baton.jobs.{args.service}.>", f"baton-{args.service}"


def check_endpoints(where, reply, verb, args):
    endpoints = reply.get("endpoints")
    if not isinstance(endpoints, list) or len(endpoints) != 1:
        fail(where, f"endpoints must be a list of one endpoint, got {endpoints!r}")
        return
    endpoint = endpoints[0]
    where = f"{where}.endpoints[0]"
    if not isinstance(endpoint, dict):
        fail(where, "must be an object")
        return
    required = ["name", "subject", "queue_group"]
    required += ["metadata"] if verb == "INFO" else [
        "num_requests", "num_errors", "last_error", "processing_time", "average_processing_time", "data"]
    for key in required:
        if key not in endpoint:
            fail(where, f"missing field {key!r}")
    for key in endpoint:
        if key not in required:
            fail(where, f"unexpected field {key!r}")
    if not isinstance(endpoint.get("name"), str) or not NAME.match(endpoint.get("name", "")):
        fail(where, f"name must match {NAME.pattern}, got {endpoint.get('name')!r}")
    lane = (reply.get("metadata") or {}).get("lane")
    subject, queue = expected_endpoint(args, lane)
    if endpoint.get("subject") != subject:
        fail(where, f"subject must be {subject!r}, got {endpoint.get('subject')!r}")
    if endpoint.get("queue_group") != queue:
        fail(where, f"queue_group must be {queue!r}, got {endpoint.get('queue_group')!r}")
    if verb == "INFO":
        check_string_map(f"{where}.metadata", endpoint.get("metadata"))
        return
    for key in ("num_requests", "num_errors", "processing_time", "average_processing_time"):
        if not is_int(endpoint.get(key)) or endpoint.get(key) < 0:
            fail(where, f"{key} must be a non-negative integer, got {endpoint.get(key)!r}")
    if not isinstance(endpoint.get("last_error"), str):
        fail(where, f"last_error must be a string, got {endpoint.get('last_error')!r}")
    if not isinstance(endpoint.get("data"), dict):
        fail(where, f"data must be an object, got {endpoint.get('data')!r}")
    requests, errors = endpoint.get("num_requests"), endpoint.get("num_errors")
    if is_int(requests) and is_int(errors):
        if errors > requests:
            fail(where, f"num_errors {errors} > num_requests {requests}")
        if errors == 0 and endpoint.get("last_error") != "":
            fail(where, f"last_error must be '' without errors, got {endpoint.get('last_error')!r}")
        if errors > 0 and not endpoint.get("last_error"):
            fail(where, "last_error must say what failed")
        total, average = endpoint.get("processing_time"), endpoint.get("average_processing_time")
        if is_int(total) and is_int(average) and requests > 0 and average != total // requests:
            fail(where, f"average_processing_time {average} != processing_time {total} // {requests}")


def check_reply(where, reply, verb, args):
    if not isinstance(reply, dict):
        fail(where, f"must be a JSON object, got {reply!r}")
        return
    check_identity(where, reply, verb, args)
    if verb == "INFO":
        if not isinstance(reply.get("description"), str):
            fail(where, f"description must be a string, got {reply.get('description')!r}")
        check_endpoints(where, reply, verb, args)
    if verb == "STATS":
        started = reply.get("started")
        if not isinstance(started, str) or not RFC3339.match(started):
            fail(where, f"started must be RFC 3339, got {started!r}")
        else:
            try:
                datetime.fromisoformat(started.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError as error:
                fail(where, f"started is not a valid time: {error}")
        check_endpoints(where, reply, verb, args)
    model = {"PING": ServicePing, "INFO": ServiceInfo, "STATS": ServiceStats}[verb]
    if model is not None:
        try:
            model.from_dict(reply)
        except Exception as error:  # noqa: BLE001 - any failure is a mismatch
            fail(where, f"nats-py {model.__name__}.from_dict refuses it: {error!r}")


async def gather(nc, subject, timeout, quiet=0.3):
    """Publishes one request and collects the replies: for up to `timeout` seconds, ending
    `quiet` seconds after the last one (a loaded box answers late, a quiet one quickly)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish(subject, b"", reply=inbox)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    replies = []
    while (remaining := deadline - loop.time()) > 0:
        try:
            msg = await sub.next_msg(timeout=min(remaining, quiet) if replies else remaining)
        except nats.errors.TimeoutError:
            break
        if msg.headers and msg.headers.get("Status", "").startswith("503"):
            break  # no responders
        try:
            replies.append(json.loads(msg.data))
        except ValueError as error:
            fail(subject, f"reply is not JSON ({error}): {msg.data[:200]!r}")
    await sub.unsubscribe()
    return replies


async def main(args):
    nc = await nats.connect(args.url, connect_timeout=5)
    try:
        ids = {}
        for verb in ("PING", "INFO", "STATS"):
            mine = [r for r in await gather(nc, f"$SRV.{verb}", args.timeout) if isinstance(r, dict) and r.get("name") == args.service]
            if args.worker:
                mine = [r for r in mine if (r.get("metadata") or {}).get("worker") == args.worker]
            if not mine:
                fail(f"$SRV.{verb}", f"no instance of {args.service!r} answered")
            for reply in mine:
                check_reply(f"$SRV.{verb} {reply.get('id')}", reply, verb, args)
                ids.setdefault(reply.get("id"), set()).add(verb)
            named = await gather(nc, f"$SRV.{verb}.{args.service}", args.timeout)
            if not named:
                fail(f"$SRV.{verb}.{args.service}", "no reply")
            for reply in named:
                if not isinstance(reply, dict) or reply.get("name") != args.service:
                    fail(f"$SRV.{verb}.{args.service}", f"answered by another service: {reply!r}")
                else:
                    check_reply(f"$SRV.{verb}.{args.service} {reply.get('id')}", reply, verb, args)
            if verb == "STATS":
                for reply in mine:
                    endpoint = (reply.get("endpoints") or [{}])[0]
                    if isinstance(endpoint, dict) and is_int(endpoint.get("num_requests")):
                        if endpoint["num_requests"] < args.min_requests:
                            fail(f"$SRV.STATS {reply.get('id')}", f"num_requests {endpoint['num_requests']} < {args.min_requests}")
                        if endpoint.get("num_errors", 0) < args.min_errors:
                            fail(f"$SRV.STATS {reply.get('id')}", f"num_errors {endpoint.get('num_errors')} < {args.min_errors}")
        for instance, verbs in ids.items():
            if verbs != {"PING", "INFO", "STATS"}:
                # Other tests' workers come and go on a shared server: one that stopped between
                # two verbs no longer answers at all, and is no fault of the protocol.
                if not args.worker and not await gather(nc, f"$SRV.PING.{args.service}.{instance}", args.timeout):
                    continue
                fail(f"instance {instance}", f"answered only {sorted(verbs)}")
            for verb in ("PING", "INFO", "STATS"):
                direct = await gather(nc, f"$SRV.{verb}.{args.service}.{instance}", args.timeout)
                if len(direct) != 1 or not isinstance(direct[0], dict) or direct[0].get("id") != instance:
                    fail(f"$SRV.{verb}.{args.service}.{instance}", f"expected exactly that instance, got {direct!r}")
                else:
                    check_reply(f"$SRV.{verb}.{args.service}.{instance}", direct[0], verb, args)
        return len(ids)
    finally:
        await nc.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("service")
    parser.add_argument("--lane", choices=("fast", "durable"))
    parser.add_argument("--worker", help="only the instances of this worker id")
    parser.add_argument("--min-requests", type=int, default=0)
    parser.add_argument("--min-errors", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3, help="at most this many seconds to gather replies")
    arguments = parser.parse_args()
    try:
        count = asyncio.run(main(arguments))
    except Exception as error:  # noqa: BLE001
        print(f"micro_check: cannot check: {error!r}", file=sys.stderr)
        sys.exit(2)
    if problems:
        for problem in problems:
            print(f"micro_check: {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"micro_check: {arguments.service}: {count} instance(s) answer PING, INFO and STATS as ADR-32 says")
