"""Writes the bench report (markdown + PNG) from bench/run.sh's measurements and prints it."""
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

(base, cores, cpu, versions, commit, duration, conns, held,
 H, H1, N, F, F1, D, D1, Fhalf, Dhalf, A, a_bad, drain_rate, W, w_ok, w_bad, w_rss, S, S1,
 js_D, js_S, w_end, w_end_back, worker_rss, R, R1) = sys.argv[1:]


def parse(line):
    rps, p50, p99, non2xx, errors = line.split()
    return dict(rps=float(rps), p50=float(p50), p99=float(p99), non2xx=int(non2xx), errors=int(errors))


H, H1, N, F, F1, D, D1, Fhalf, Dhalf, A, W, S, S1, R, R1 = map(parse, (H, H1, N, F, F1, D, D1, Fhalf, Dhalf, A, W, S, S1, R, R1))


def parse_js(token):
    """bench/jsz.py's per-job deltas of a phase ("" when the phase did not run)."""
    if not token:
        return None
    js = dict(field.split("=", 1) for field in token.split(","))
    for key in ("api", "writes", "acks", "in_msgs"):
        js[key] = float(js[key])
    return js


js_D, js_S = parse_js(js_D), parse_js(js_S)
nan = float("nan")
limit = H["rps"] * N["rps"] / (H["rps"] + N["rps"])
ratios = {
    "F_over_limit": F["rps"] / limit,
    "D_over_F": D["rps"] / F["rps"],
    "added_p50_ms": F1["p50"] - H1["p50"],
    "added_p99_ms": Fhalf["p99"],
    "d_half_p99_ms": Dhalf["p99"],
    "held_calls_ok": int(w_ok),
    "held_rss_mb": int(w_rss),
    "async_accept_per_s": A["rps"] - 0,
}
# Counts without a target: what nats-server counted per durable job, and the worker's end failures.
counts = {
    "js_api_per_durable_job": js_D["api"] if js_D else nan,
    "js_writes_per_durable_job": js_D["writes"] if js_D else nan,
    "js_acks_per_durable_job": js_D["acks"] if js_D else nan,
    "s_js_writes_per_durable_job": js_S["writes"] if js_S else nan,
    "held_end_failures": int(w_end),
    "worker_rss_mb": int(worker_rss),
    "F_over_R": F["rps"] / R["rps"],
    "R_over_limit": R["rps"] / limit,
}
targets = {
    "F_over_limit": (">=", 0.8), "D_over_F": (">=", 0.5), "added_p50_ms": ("<=", 0.3),
    "added_p99_ms": ("<=", 2.0), "d_half_p99_ms": ("<=", 5.0), "held_calls_ok": (">=", int(held)), "held_rss_mb": ("<=", 300),
    "async_accept_per_s": (">=", 10000),
}


def met(key):
    op, target = targets[key]
    value = ratios[key]
    return value >= target if op == ">=" else value <= target


rows = [
    ("H", "raw Hummingbird, POST /hello (echo-shaped)", H),
    ("N", "raw NATS request-reply via BatonNATS", N),
    ("F", "Baton sync, fast lane (echo-fast)", F),
    ("R", "Hummingbird + one BatonNATS request to the worker's echo-fast, no gateway logic", R),
    ("D", "Baton sync, durable lane (echo)", D),
    ("S", "D on a nats-server with sync_interval: always", S),
    ("A", "Baton Prefer: respond-async accepts (echo)", A),
    ("W", f"{held} held sync calls (slow, 5 s)", W),
    ("H·1", "H at 1 connection", H1),
    ("F·1", "F at 1 connection", F1),
    ("R·1", "R at 1 connection", R1),
    ("D·1", "D at 1 connection", D1),
    ("S·1", "S at 1 connection", S1),
    ("F·½", "F paced at half of F's peak", Fhalf),
    ("D·½", "D paced at half of D's peak", Dhalf),
]
lines = [
    f"# Baton benchmark {base.split('/')[-1]}",
    "",
    f"Commit measured: {commit}. Machine: {cores} cores, {cpu}. Versions: {versions}.",
    f"Every phase on the same box, one after another: nats-server, gateway, worker and wrk share the cores.",
    f"Throughput phases: {conns} connections (N: {conns} requests in flight), {duration} s each; latency phases: 1 connection, 5 s;",
    "paced phases: 32 connections at half the phase's peak rate (wrk with a fixed per-connection delay). Latencies from wrk --latency.",
    "",
    "| phase | what | req/s | p50 ms | p99 ms | non-2xx | socket errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
for name, what, r in rows:
    lines.append(f"| {name} | {what} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['non2xx']} | {r['errors']} |")
lines += [
    "",
    f"- A: {A['rps']:.0f} jobs/s accepted ({a_bad} answers other than 202); workers then drained the queue at {float(drain_rate):.0f} jobs/s.",
    f"- W: {w_ok} of the {held} held calls (one per connection) answered 200 with the right body within the 12 s phase, {w_bad} wrong;"
    f" gateway peak RSS {w_rss} MB; the worker logged {w_end} `cannot record the end of the job` warnings by the phase's end"
    f" ({w_end_back} of them handing the job back).",
    f"- The worker's resident set once it has run F, D, D·1 and the paced phases: {worker_rss} MB (it must not grow with the jobs run).",
    f"- Limit of doing both HTTP and NATS on these cores: H·N/(H+N) = {limit:.0f} req/s.",
    f"- R, the fast lane's design with nothing of Baton's gateway in it (HTTP in, one BatonNATS request to the same worker, HTTP out):"
    f" R/limit = {R['rps'] / limit:.2f}, F/R = {F['rps'] / R['rps']:.2f} (what the gateway's own work costs: services, ids, headers,"
    f" trace context, metrics, problem documents); at 1 connection F·1 − R·1 = {(F1['p50'] - R1['p50']) * 1000:.0f} µs at p50.",
    f"- Strict durability (fsync on every write, `sync_interval: always`): S/D = {S['rps'] / D['rps']:.2f} at {conns} connections,"
    f" p50 at 1 connection {S1['p50']:.2f} ms against {D1['p50']:.2f} ms.",
]


def js_line(name, js):
    if not js:
        return f"- {name}: not run."
    streams = ", ".join(f"{k} {v}" for k, v in (x.split(":") for x in js["streams"].split(";") if x))
    return (f"- {name}, counted by nats-server over the phase, per job answered 2xx ({js['jobs']} jobs):"
            f" {js['writes']:.2f} stored messages ({streams}; {float(js['writes_per_published']):.2f} per job published to"
            f" BATON_JOBS, {js['published']} of them, those wrk stopped waiting for included), {js['acks']:.2f} acks, {js['api']:.2f} JetStream API requests"
            f" ({js['api_errors']} errors in all), {js['in_msgs']:.2f} messages from clients.")


lines += [
    js_line("D", js_D),
    js_line("S", js_S),
    "  Stored messages: the streams' last_seq deltas (/jsz), deleted ones included (jobs acked off the work queue, KV history);"
    " acks: the consumers' ack-floor deltas (nats-server has no ack counter); JetStream API requests: /varz jetstream.stats.api"
    " (`$JS.API.*` only: stream publishes, KV puts, direct gets, acks and pull requests are not API requests);"
    " messages from clients: /varz in_msgs. The second count waits for the counters to settle: the few jobs still in flight"
    f" when wrk stopped (at most {conns}) add their messages but are not among the jobs divided by.",
    "",
    "| ratio | value | target | met |",
    "| --- | ---: | --- | --- |",
]
for key, value in ratios.items():
    op, target = targets[key]
    shown = f"{value:.3f}" if isinstance(value, float) else str(value)
    lines.append(f"| {key} | {shown} | {op} {target} | {'yes' if met(key) else 'no'} |")
lines += ["", f"![chart]({base.split('/')[-1]}.png)", "", "```"]
for key, value in {**ratios, **counts}.items():
    lines.append(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}")
lines.append("```")
report = "\n".join(lines) + "\n"
open(base + ".md", "w").write(report)
print(report)

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
names = ["H", "N", "R", "F", "D", "A"]
values = [H, N, R, F, D, A]
left.bar(names, [v["rps"] for v in values], color=["#999", "#999", "#999", "#2a7", "#27a", "#a72"])
left.set_title(f"throughput, {conns} connections (req/s)")
for i, v in enumerate(values):
    left.text(i, v["rps"], f"{v['rps']:.0f}", ha="center", va="bottom", fontsize=8)
lat_names = ["H·1", "F·1", "D·1", "F·½", "D·½"]
lat = [H1, F1, D1, Fhalf, Dhalf]
x = range(len(lat_names))
right.bar([i - 0.2 for i in x], [v["p50"] for v in lat], width=0.4, label="p50")
right.bar([i + 0.2 for i in x], [v["p99"] for v in lat], width=0.4, label="p99")
right.set_xticks(list(x), lat_names)
right.set_title("latency (ms)")
right.legend()
fig.suptitle(f"Baton bench {base.split('/')[-1]} (commit {commit}) — {cores} cores, {cpu}", fontsize=9)
fig.tight_layout()
fig.savefig(base + ".png", dpi=110)
