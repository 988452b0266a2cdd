"""A tiny Baton webhook receiver that verifies Standard Webhooks signatures (Python 3 stdlib only).

    BATON_WEBHOOK_SECRET=whsec_... python3 examples/webhook-receiver.py [--port 9090] [--fail N]
    python3 examples/webhook-receiver.py --secret whsec_... --fail 2

Then submit a job with `Callback-Url: http://127.0.0.1:9090/hook` (a gateway allows loopback
targets only when told to, as `baton dev` does). Each delivery with a valid signature is printed
(webhook id, job, state, the job's HTTP status) and answered 204; a bad or missing signature, or
a timestamp more than --tolerance seconds (default 300) away, gets 401. --fail N answers 503 to
the first N signed deliveries, to show Baton's retries (the same webhook id comes again).
--record FILE appends one JSON line per verified delivery (webhook id, the job's finishedAt, the
receive time) for measuring delivery latency (bench/webhooks.sh); --quiet prints nothing per delivery.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def decode_secret(secret: str) -> bytes:
    """The key bytes of a "whsec_<base64>" secret."""
    if not secret.startswith("whsec_"):
        raise ValueError("the secret must start with whsec_")
    return base64.b64decode(secret[len("whsec_"):], validate=True)


def verify(key: bytes, msg_id: str, timestamp: str, body: bytes, signature_header: str,
           tolerance: int = 300, now=None) -> bool:
    """Standard Webhooks: one of the space-separated "v1,<base64>" signatures must be
    base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")), and the timestamp recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in signature_header.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def make_handler(key: bytes, fail: int, tolerance: int, record=None, quiet=False):
    state = {"failures_left": fail}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: Baton reuses its connections

        def do_POST(self):
            received = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            msg_id = self.headers.get("webhook-id", "")
            ok = verify(key, msg_id, self.headers.get("webhook-timestamp", ""), body,
                        self.headers.get("webhook-signature", ""), tolerance)
            if not ok:
                print(f"REJECTED {msg_id or '(no webhook-id)'}: bad signature or stale timestamp", flush=True)
                return self.answer(401)
            if state["failures_left"] > 0:
                state["failures_left"] -= 1
                print(f"{msg_id}: answering 503 (--fail, {state['failures_left']} left)", flush=True)
                return self.answer(503)
            try:
                event = json.loads(body)
            except ValueError:
                event = {}
            data = event.get("data", {}) if isinstance(event, dict) else {}
            answer = data.get("answer") or {}
            if record is not None:
                record.write(json.dumps({"id": msg_id, "finishedAt": data.get("finishedAt"), "received": received}) + "\n")
                record.flush()
            if not quiet:
                print(f"{msg_id}: {event.get('type', '?')} job={data.get('id', '?')} "
                      f"state={data.get('state', '?')} status={answer.get('status', '-')}", flush=True)
            self.answer(204)

        def answer(self, status: int):
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):  # Quiet: the deliveries are printed above.
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Verify and print Baton webhook deliveries.")
    parser.add_argument("--secret", default=os.environ.get("BATON_WEBHOOK_SECRET"),
                        help="whsec_... (default: $BATON_WEBHOOK_SECRET)")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--fail", type=int, default=0, metavar="N", help="answer 503 to the first N deliveries")
    parser.add_argument("--tolerance", type=int, default=300, help="seconds a timestamp may be off")
    parser.add_argument("--record", metavar="FILE", help="append a JSON line per verified delivery")
    parser.add_argument("--quiet", action="store_true", help="print nothing per delivery")
    args = parser.parse_args()
    if not args.secret:
        parser.error("no secret: set BATON_WEBHOOK_SECRET or pass --secret")
    try:
        key = decode_secret(args.secret)
    except ValueError as error:
        parser.error(f"invalid secret: {error}")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(
        key, args.fail, args.tolerance, open(args.record, "a") if args.record else None, args.quiet))
    print(f"listening on http://127.0.0.1:{server.server_port}/hook (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
