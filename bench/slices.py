"""wrk outputs, and the throughput phases of a round measured in slices (bench/run.sh).

  slices.py summary FILE    a wrk --latency output → "rps p50_ms p99_ms non2xx errors", as
                            bench/run.sh's `record` takes it (wrk's own Requests/sec)
  slices.py wrk FILE        a wrk --latency output → one slice line
  slices.py nats LINE       a `baton-bench nats-rr` line → one slice line
  slices.py total FILE      a phase's slice lines → "rps p50_ms p99_ms non2xx errors", as
                            bench/run.sh's `record` takes it: the rate is all the slices'
                            requests over all their seconds; p50 and p99 are the median of the
                            slices' own (a percentile of a whole phase cannot be rebuilt from
                            its slices' percentiles; the median keeps one slow slice from
                            deciding it)

A slice line: "requests seconds p50_ms p99_ms non2xx errors".
"""
import re
import statistics
import sys


def parse(text):
    """A wrk --latency output → requests, seconds, wrk's Requests/sec, p50_ms, p99_ms, non2xx, errors."""
    def ms(label):
        m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % re.escape(label), text, re.M)
        if not m:
            return float("nan")
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v

    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", text, re.M)
    requests, value, unit = int(m.group(1)), float(m.group(2)), m.group(3)
    seconds = value * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return (requests, seconds, rps, ms("50%"), ms("99%"), int(non2xx.group(1)) if non2xx else 0,
            sum(int(x) for x in errors.groups()) if errors else 0)


def wrk(text):
    requests, seconds, _, p50, p99, non2xx, errors = parse(text)
    return (requests, seconds, p50, p99, non2xx, errors)


def nats(line):
    fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
    requests, rps = int(fields["requests"]), float(fields["rps"])
    return (requests, requests / rps if rps else float("nan"),
            float(fields["p50_us"]) / 1000, float(fields["p99_us"]) / 1000, 0, 0)


def total(lines):
    rows = [tuple(float(x) for x in line.split()) for line in lines if line.strip()]
    requests = sum(r[0] for r in rows)
    seconds = sum(r[1] for r in rows)
    return (requests / seconds, statistics.median(r[2] for r in rows), statistics.median(r[3] for r in rows),
            int(sum(r[4] for r in rows)), int(sum(r[5] for r in rows)))


if __name__ == "__main__":
    command, arg = sys.argv[1], sys.argv[2]
    if command == "summary":
        _, _, rps, p50, p99, non2xx, errors = parse(open(arg).read())
        print(f"{rps:.0f} {p50:.3f} {p99:.3f} {non2xx} {errors}")
    elif command == "wrk":
        print("%d %.3f %.3f %.3f %d %d" % wrk(open(arg).read()))
    elif command == "nats":
        print("%d %.3f %.3f %.3f %d %d" % nats(arg))
    elif command == "total":
        print("%.0f %.3f %.3f %d %d" % total(open(arg).read().splitlines()))
    else:
        sys.exit(f"unknown command {command}")
