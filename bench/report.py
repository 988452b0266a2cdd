"""Writes the bench report (markdown + PNG) from bench/run.sh's measurements and prints it."""
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

(base, cores, cpu, versions, commit, duration, conns, held, rounds, results,
 a_bad, w_ok, w_bad, w_rss, js_D, js_S, w_end, w_end_back, worker_rss, worker_rss_last, wf_ok, wf_bad, wf_rss, allocs) = sys.argv[1:]
rounds = int(rounds)


def parse(line):
    rps, p50, p99, non2xx, errors = line.split()
    return dict(rps=float(rps), p50=float(p50), p99=float(p99), non2xx=int(non2xx), errors=int(errors))


# bench/run.sh's measurements: "NAME rps p50 p99 non2xx errors", a round's phases as NAME.<round>.
phases, by_round, drains, stored = {}, {}, [], {}
for line in open(results):
    name, rest = line.split(" ", 1)
    if name.startswith("store."):  # the server's stored messages and bytes before a round's paced phases
        messages, size = rest.split()
        stored[int(name.split(".")[1])] = (int(messages), int(size))
    elif name.startswith("drain."):
        rate, queued = rest.split()
        drains.append((float(rate), int(queued)))
    elif "." in name:
        phase, number = name.split(".")
        by_round.setdefault(int(number), {})[phase] = parse(rest)
    else:
        phases[name] = parse(rest)


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def merged(phase):
    """A round phase's row: the median of each column over the rounds (non-2xx and errors summed)."""
    runs = [by_round[r][phase] for r in sorted(by_round)]
    return dict(rps=median([x["rps"] for x in runs]), p50=median([x["p50"] for x in runs]),
                p99=median([x["p99"] for x in runs]), non2xx=sum(x["non2xx"] for x in runs),
                errors=sum(x["errors"] for x in runs))


H, H1, N, N1, F, F1, D, D1, Fhalf, Dhalf, A, RA, R, R1, RD, RD1, RDhalf = map(
    merged, ("H", "H1", "N", "N1", "F", "F1", "D", "D1", "Fhalf", "Dhalf", "A", "RA", "R", "R1", "RD", "RD1", "RDhalf"))
W, WF, S, S1 = phases["W"], phases["WF"], phases["S"], phases["S1"]


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


def round_ratios(p):
    """The ratios of one round's phases (each from phases minutes apart at most)."""
    limit = p["H"]["rps"] * p["N"]["rps"] / (p["H"]["rps"] + p["N"]["rps"])
    return {
        "F_over_limit": p["F"]["rps"] / limit,
        "D_over_F": p["D"]["rps"] / p["F"]["rps"],
        "added_p50_ms": p["F1"]["p50"] - p["H1"]["p50"],
        "added_p99_ms": p["Fhalf"]["p99"],
        "d_half_p99_ms": p["Dhalf"]["p99"],
        "async_accept_per_s": p["A"]["rps"],
        "F_over_R": p["F"]["rps"] / p["R"]["rps"],
        "R_over_limit": p["R"]["rps"] / limit,
        "D_over_RD": p["D"]["rps"] / p["RD"]["rps"],
        "RD_over_R": p["RD"]["rps"] / p["R"]["rps"],
        "rd_half_p99_ms": p["RDhalf"]["p99"],
        "A_over_RA": p["A"]["rps"] / p["RA"]["rps"],
        "ra_accept_per_s": p["RA"]["rps"],
        "n1_p50_ms": p["N1"]["p50"],
        "added_p50_over_n1_ms": p["F1"]["p50"] - p["H1"]["p50"] - p["N1"]["p50"],
        "relay_added_p50_over_n1_ms": p["R1"]["p50"] - p["H1"]["p50"] - p["N1"]["p50"],
        "limit": limit,
    }


per_round = {r: round_ratios(by_round[r]) for r in sorted(by_round)}
medians = {key: median([x[key] for x in per_round.values()]) for key in next(iter(per_round.values()))}
limit = medians["limit"]
ratios = {
    "F_over_limit": medians["F_over_limit"],
    "D_over_F": medians["D_over_F"],
    "added_p50_ms": medians["added_p50_ms"],
    "added_p99_ms": medians["added_p99_ms"],
    "d_half_p99_ms": medians["d_half_p99_ms"],
    "held_calls_ok": int(w_ok),
    "held_rss_mb": int(w_rss),
    "held_fast_calls_ok": int(wf_ok),
    "held_fast_rss_mb": int(wf_rss),
    "async_accept_per_s": medians["async_accept_per_s"],
}
# Counts without a target: what nats-server counted per durable job, and the worker's end failures.
counts = {
    "js_api_per_durable_job": js_D["api"] if js_D else nan,
    "js_writes_per_durable_job": js_D["writes"] if js_D else nan,
    "js_acks_per_durable_job": js_D["acks"] if js_D else nan,
    "s_js_writes_per_durable_job": js_S["writes"] if js_S else nan,
    "held_end_failures": int(w_end),
    "worker_rss_mb": int(worker_rss),
    "worker_rss_last_mb": int(worker_rss_last),
    "F_over_R": medians["F_over_R"],
    "R_over_limit": medians["R_over_limit"],
    "D_over_RD": medians["D_over_RD"],
    "RD_over_R": medians["RD_over_R"],
    "rd_half_p99_ms": medians["rd_half_p99_ms"],
    "A_over_RA": medians["A_over_RA"],
    "ra_accept_per_s": medians["ra_accept_per_s"],
    "n1_p50_ms": medians["n1_p50_ms"],
    "added_p50_over_n1_ms": medians["added_p50_over_n1_ms"],
}
# bench/allocs.sh: "F=front,back R=... D=... RD=..." (heap allocations per call), or "" without perf.
allocations = {name: tuple(map(float, pair.split(","))) for name, pair in (item.split("=") for item in allocs.split())}
for phase, front, back in (("F", "gateway", "worker"), ("R", "relay", "worker"), ("D", "gateway", "worker"), ("RD", "relay", "bare_worker")):
    pair = allocations.get(phase, (nan, nan))
    counts[f"allocs_{phase}_{front}"], counts[f"allocs_{phase}_{back}"] = pair
targets = {
    "F_over_limit": (">=", 0.8), "D_over_F": (">=", 0.5), "added_p50_ms": ("<=", 0.3),
    "added_p99_ms": ("<=", 2.0), "d_half_p99_ms": ("<=", 5.0), "held_calls_ok": (">=", int(held)), "held_rss_mb": ("<=", 300),
    "held_fast_calls_ok": (">=", int(held)), "held_fast_rss_mb": ("<=", 300),
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
    ("RD", "Hummingbird + one JetStream job to a bare worker (answer stored, acked), no Baton logic", RD),
    ("S", "D on a nats-server with sync_interval: always", S),
    ("A", "Baton Prefer: respond-async accepts (echo)", A),
    ("RA", "Hummingbird + one JetStream job published and its record created, 202; no Baton logic", RA),
    ("W", f"{held} held sync calls (slow, 5 s)", W),
    ("WF", f"{held} held sync calls on the fast lane (slow-fast, 5 s)", WF),
    ("H·1", "H at 1 connection", H1),
    ("N·1", "N with 1 request in flight", N1),
    ("F·1", "F at 1 connection", F1),
    ("R·1", "R at 1 connection", R1),
    ("D·1", "D at 1 connection", D1),
    ("RD·1", "RD at 1 connection", RD1),
    ("S·1", "S at 1 connection", S1),
    ("F·½", "F paced at half of F's peak", Fhalf),
    ("D·½", "D paced at half of D's peak", Dhalf),
    ("RD·½", "RD paced at D·½'s rate", RDhalf),
]
tails_by_round = ", ".join(
    f"{v['d_half_p99_ms']:.2f} / {v['rd_half_p99_ms']:.2f}"
    + (f" with {stored[r][0] / 1e6:.2f} M messages ({stored[r][1] / 1e6:.0f} MB) stored" if r in stored else "")
    for r, v in per_round.items())
lines = [
    f"# Baton benchmark {base.split('/')[-1]}",
    "",
    f"Commit measured: {commit}. Machine: {cores} cores, {cpu}. Versions: {versions}.",
    f"Every phase on the same box, one after another: nats-server, gateway, worker and wrk share the cores."
    f" Before round 1, H, F, R, D and RD ran {os.environ.get('WARMUP', '0')} s each unrecorded (warm-up).",
    "Each measured phase starts right after a forced garbage collection of nats-server (its pprof port, `heap?gc=1`): no phase pays for the garbage of the one before.",
    f"Throughput phases: {conns} connections (N: {conns} requests in flight). H, N, F, R, D and RD each ran {os.environ.get('SLICES', '1')} slices of"
    f" {os.environ.get('SLICE', duration)} s a round, interleaved in ABBA order (all six forward, then backward, ...), so that a drift of the box's speed"
    " over a round cancels out of their ratios: a rate is all its slices' requests over their seconds, a p50 or p99 the median of the slices'."
    f" A, RA and S: {duration} s each; latency phases: 1 connection, 5 s;",
    "paced phases: 32 connections at half the phase's peak rate (each connection waits a random, exponentially distributed time between an answer and its next request: independent clients). Latencies from wrk --latency.",
    f"H, N, F, R, D, RD, A, RA and their 1-connection and paced phases ran in {rounds} interleaved rounds: their rows are each column's",
    "median over the rounds (non-2xx and socket errors summed), and each ratio is the median of the rounds' own ratios (per-round",
    "values below). S, W and WF ran once.",
    "",
    "| phase | what | req/s | p50 ms | p99 ms | non-2xx | socket errors |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
]
for name, what, r in rows:
    lines.append(f"| {name} | {what} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['non2xx']} | {r['errors']} |")
lines += [
    "",
    f"- A: {A['rps']:.0f} jobs/s accepted (median; {a_bad} answers other than 202 in all rounds); after each round's A the worker"
    f" drained the queue at {median([r for r, _ in drains]):.0f} jobs/s (median of {', '.join(f'{r:.0f}' for r, _ in drains)}).",
    f"- RA, the accept's design with nothing of Baton in it (HTTP in; the job published to a work-queue stream on file, its id as"
    " message id; from its acknowledgement its record created in a KV bucket; `202` on the record's: 2 stored messages an accept, as A;"
    f" run beside A in each round while no worker runs, its jobs purged after): {RA['rps']:.0f} accepts/s ({os.environ.get('RA_BAD', '0')}"
    f" answers other than 202); A/RA = {medians['A_over_RA']:.2f} (what Baton's accept adds: its record, ids, headers, trace context,"
    " metrics, the problem checks), and RA is what the design reaches on this box without any of it.",
    f"- W: {w_ok} of the {held} held calls (one per connection) answered 200 with the right body within the 12 s phase, {w_bad} wrong;"
    f" gateway peak RSS {w_rss} MB; the worker logged {w_end} `cannot record the end of the job` warnings by the phase's end"
    f" ({w_end_back} of them handing the job back).",
    f"- WF: {wf_ok} of the {held} held fast-lane calls answered 200 with the right body within the 12 s phase, {wf_bad} wrong;"
    f" gateway peak RSS {wf_rss} MB (a fresh gateway).",
    f"- The worker's resident set once it has run round 1's F, D, D·1 and paced phases: {worker_rss} MB; after the last round's:"
    f" {worker_rss_last} MB, with {rounds - 1} drains of A's queue ({', '.join(f'{q:,}' for _, q in drains[:-1]) or 'none'} jobs, up to 256 at once) in between"
    " (it must not grow with the jobs run).",
    f"- Limit of doing both HTTP and NATS on these cores: H·N/(H+N) = {limit:.0f} req/s (median of the rounds').",
    ("- Heap allocations per call (libc `malloc`, counted with a perf uprobe over 5 s at"
     f" {conns} connections after the timed phases): F gateway {counts['allocs_F_gateway']:.1f}, worker {counts['allocs_F_worker']:.1f};"
     f" R relay {counts['allocs_R_relay']:.1f}, worker {counts['allocs_R_worker']:.1f};"
     f" D gateway {counts['allocs_D_gateway']:.1f}, worker {counts['allocs_D_worker']:.1f};"
     f" RD relay {counts['allocs_RD_relay']:.1f}, bare worker {counts['allocs_RD_bare_worker']:.1f}."
     " Counts, not times (a uprobe slows every malloc); a process's count rises a little when it answers fewer calls per wake-up."
     if allocations else "- Heap allocations per call: not counted (needs `perf` and root)."),
    f"- R, the fast lane's design with nothing of Baton's gateway in it (HTTP in, one BatonNATS request to the same worker, HTTP out):"
    f" R/limit = {medians['R_over_limit']:.2f}, F/R = {medians['F_over_R']:.2f} (what the gateway's own work costs: services, ids, headers,"
    f" trace context, metrics, problem documents); at 1 connection F·1 − R·1 = {(F1['p50'] - R1['p50']) * 1000:.0f} µs at p50.",
    f"- A lone call: F·1 − H·1 = {medians['added_p50_ms']:.3f} ms at p50 (median of the rounds'), and it holds a NATS round trip:"
    f" N·1, one request-reply at a time with no HTTP, reads {medians['n1_p50_ms']:.3f} ms at p50 here, and F·1 − H·1 − N·1 ="
    f" {medians['added_p50_over_n1_ms'] * 1000:.0f} µs is what a lone call adds beyond the two baselines (R·1 − H·1 − N·1 ="
    f" {medians['relay_added_p50_over_n1_ms'] * 1000:.0f} µs with no gateway logic; medians of the rounds').",
    f"- RD, the durable lane's design with nothing of Baton in it (HTTP in; the job published to a work-queue stream on file, its id as"
    " message id; a bare worker pulls it, stores its answer create-only in a KV bucket, replies and acks; HTTP out: 2 stored"
    f" messages and an ack per job, as D): RD/R = {medians['RD_over_R']:.2f} (what JetStream's durability costs against"
    f" a core request on this stack), D/RD = {medians['D_over_RD']:.2f} (what Baton's durable lane adds: its record, lifecycle,"
    f" headers, trace context, metrics); at 1 connection D·1 − RD·1 = {(D1['p50'] - RD1['p50']) * 1000:.0f} µs at p50."
    f" D/F = (D/RD)·(RD/R)/(F/R): with F/R = {medians['F_over_R']:.2f}, D/F ≥ 0.5 needs D/RD ≥ {0.5 * medians['F_over_R'] / medians['RD_over_R']:.2f}.",
    f"- The tail at half load: D·½ p99 {Dhalf['p99']:.2f} ms, RD·½ p99 {RDhalf['p99']:.2f} ms at the same offered rate,"
    f" one after the other (D·½ first in odd rounds, RD·½ in even ones) (medians; per round {tails_by_round}): what"
    " of D·½'s tail the durable design on these cores has without any of Baton's logic.",
    f"- Strict durability (fsync on every write, `sync_interval: always`): S/D = {S['rps'] / D['rps']:.2f} at {conns} connections,"
    f" p50 at 1 connection {S1['p50']:.2f} ms against {D1['p50']:.2f} ms.",
]


def js_line(name, js, over="the phase"):
    if not js:
        return f"- {name}: not run."
    streams = ", ".join(f"{k} {v}" for k, v in (x.split(":") for x in js["streams"].split(";") if x))
    return (f"- {name}, counted by nats-server over {over}, per job answered 2xx ({js['jobs']} jobs):"
            f" {js['writes']:.2f} stored messages ({streams}; {float(js['writes_per_published']):.2f} per job published to"
            f" BATON_JOBS, {js['published']} of them, those wrk stopped waiting for included), {js['acks']:.2f} acks, {js['api']:.2f} JetStream API requests"
            f" ({js['api_errors']} errors in all), {js['in_msgs']:.2f} messages from clients.")


lines += [
    js_line("D", js_D, "the last round's first D slice"),
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
keys = ["F_over_limit", "D_over_F", "added_p50_ms", "added_p99_ms", "d_half_p99_ms", "async_accept_per_s", "F_over_R", "R_over_limit",
        "D_over_RD", "RD_over_R", "rd_half_p99_ms", "A_over_RA", "ra_accept_per_s", "n1_p50_ms", "added_p50_over_n1_ms"]
lines += ["", "Each round's ratios (the table above takes their medians):", "",
          "| round | " + " | ".join(keys) + " | limit req/s |", "| --- |" + " ---: |" * (len(keys) + 1)]
for number, values in per_round.items():
    lines.append(f"| {number} | " + " | ".join(f"{values[k]:.3f}" if not k.endswith("accept_per_s") else f"{values[k]:.0f}" for k in keys)
                 + f" | {values['limit']:.0f} |")
lines += ["", f"![chart]({base.split('/')[-1]}.png)", "", "```"]
for key, value in {**ratios, **counts}.items():
    lines.append(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}")
lines.append("```")
report = "\n".join(lines) + "\n"
open(base + ".md", "w").write(report)
print(report)

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
names = ["H", "N", "R", "F", "RD", "D", "RA", "A"]
values = [H, N, R, F, RD, D, RA, A]
left.bar(names, [v["rps"] for v in values], color=["#999", "#999", "#999", "#2a7", "#999", "#27a", "#999", "#a72"])
left.set_title(f"throughput, {conns} connections (req/s)")
for i, v in enumerate(values):
    left.text(i, v["rps"], f"{v['rps']:.0f}", ha="center", va="bottom", fontsize=8)
lat_names = ["H·1", "N·1", "F·1", "D·1", "F·½", "D·½", "RD·½"]
lat = [H1, N1, F1, D1, Fhalf, Dhalf, RDhalf]
x = range(len(lat_names))
right.bar([i - 0.2 for i in x], [v["p50"] for v in lat], width=0.4, label="p50")
right.bar([i + 0.2 for i in x], [v["p99"] for v in lat], width=0.4, label="p99")
right.set_xticks(list(x), lat_names)
right.set_title("latency (ms)")
right.legend()
fig.suptitle(f"Baton bench {base.split('/')[-1]} (commit {commit}) — {cores} cores, {cpu}", fontsize=9)
fig.tight_layout()
fig.savefig(base + ".png", dpi=110)
