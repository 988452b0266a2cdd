"""What nats-server itself counted over a bench phase, from its monitoring port.

  jsz.py snap URL          prints a snapshot (JSON) of http://host:port (the server's -m port),
                           once the counters have stopped moving (jobs in flight when wrk stopped
                           finish first), at most ~10 s
  jsz.py stored URL        prints what the server stores now: "MESSAGES BYTES" (/jsz totals)
  jsz.py delta A B JOBS    prints the deltas from snapshot file A to B, divided by JOBS, as one
                           comma-separated key=value token for report.py (with, as a cross-check,
                           the jobs published to BATON_JOBS and the stored messages per one of them)

Fields read, present on nats-server 2.9.10 and 2.15.1 alike:
  /varz  jetstream.stats.api.total, .errors   JetStream API requests ($JS.API.*) the server
                                              handled; publishes to a stream, KV puts, acks,
                                              pull requests and direct gets are not among them
  /varz  in_msgs                              every message clients sent the server
  /jsz?accounts=true&streams=true&consumers=true
         stream_detail[].state.last_seq       a stream's last sequence: its delta is the
                                              messages stored, deleted ones included (work-queue
                                              jobs after their ack, KV history)
         consumer_detail[].ack_floor.consumer_seq   deliveries acked (the ack floor: exact once
                                              nothing is pending); nats-server has no ack counter
"""
import json
import sys
import time
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def snapshot(base):
    varz = get(base + "/varz")
    jsz = get(base + "/jsz?accounts=true&streams=true&consumers=true")
    api = varz.get("jetstream", {}).get("stats", {}).get("api", {})
    streams, acks = {}, {}
    for account in jsz.get("account_details") or []:
        for s in account.get("stream_detail") or []:
            name = f"{account['name']}/{s['name']}"
            streams[name] = s["state"]["last_seq"]
            for c in s.get("consumer_detail") or []:
                acks[f"{name}/{c['name']}"] = c["ack_floor"]["consumer_seq"]
    return dict(api=api.get("total", 0), api_errors=api.get("errors", 0), in_msgs=varz.get("in_msgs", 0),
                streams=streams, acks=acks)


def settled(base):
    last = snapshot(base)
    for _ in range(20):
        time.sleep(0.5)
        now = snapshot(base)
        if now["streams"] == last["streams"] and now["acks"] == last["acks"]:
            return now
        last = now
    return last


def delta(a, b, jobs):
    jobs = int(jobs)
    per = (lambda n: n / jobs) if jobs > 0 else (lambda n: float("nan"))
    # A stream or consumer that appeared during the phase counts from 0; one that went away, not at all.
    stored = {k.split("/", 1)[1]: v - a["streams"].get(k, 0) for k, v in b["streams"].items()}
    acked = sum(v - a["acks"].get(k, 0) for k, v in b["acks"].items())
    writes = sum(stored.values())
    # Cross-check: the jobs the phase published (BATON_JOBS), ones still in flight when wrk stopped included.
    published = stored.get("BATON_JOBS", 0)
    out = dict(
        jobs=jobs,
        published=published,
        writes_per_published=writes / published if published else float("nan"),
        api=per(b["api"] - a["api"]),
        api_errors=b["api_errors"] - a["api_errors"],
        writes=per(writes),
        acks=per(acked),
        in_msgs=per(b["in_msgs"] - a["in_msgs"]),
        streams=";".join(f"{k}:{per(v):.2f}" for k, v in sorted(stored.items()) if v),
    )
    return ",".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items())


def stored(base):
    jsz = get(base + "/jsz")
    return f"{jsz['messages']} {jsz['bytes']}"


if __name__ == "__main__":
    if sys.argv[1] == "snap":
        print(json.dumps(settled(sys.argv[2].rstrip("/"))))
    elif sys.argv[1] == "stored":
        print(stored(sys.argv[2].rstrip("/")))
    else:
        a, b = (json.load(open(p)) for p in sys.argv[2:4])
        print(delta(a, b, sys.argv[4]))
