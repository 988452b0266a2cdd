// Baton console: the Services view (loaded before app.js, whose helpers it calls: el, apiJSON,
// every, showError, view).
"use strict";

// Throughput and error rate between two catalogue answers, from each instance's cumulative
// `$SRV.STATS` counters. The time base is the answer's `readAt` (the gateway caches the
// catalogue, so an answer read twice brings no new interval). An instance id is one worker
// process whose counters only grow: the difference per id is never negative. An instance that
// went away takes its last interval with it (its counters are gone), one that a gather missed
// keeps its last reading until it answers again, and a new one counts from its start when it
// started within the interval. So the rate never goes negative when workers come and go.
class ServiceRates {
  constructor() { this.readings = new Map(); this.readAt = 0; }

  // Takes an answer; returns Map(service name → { perSecond, errorPercent }) for the services
  // whose instances have an interval to compare, or null when the answer brings nothing new.
  update(catalogue) {
    const readAt = Date.parse(catalogue.readAt);
    if (!Number.isFinite(readAt) || readAt <= this.readAt) return null;
    const previousReadAt = this.readAt;
    const rates = new Map();
    const seen = new Set();
    for (const service of catalogue.services) {
      let perSecond = 0, requests = 0, errors = 0, measured = false;
      for (const instance of service.instances) {
        seen.add(instance.id);
        const now = { requests: instance.num_requests, errors: instance.num_errors, at: readAt };
        let before = this.readings.get(instance.id);
        const started = Date.parse(instance.started || "");
        if (!before && previousReadAt && started > previousReadAt && started < readAt) before = { requests: 0, errors: 0, at: started };
        if (before && now.requests < before.requests) continue;  // a gather that missed it: keep the last reading
        this.readings.set(instance.id, now);
        if (!before) continue;
        const deltaRequests = now.requests - before.requests;
        const seconds = (now.at - before.at) / 1000;
        if (seconds <= 0) continue;
        measured = true;
        perSecond += deltaRequests / seconds;
        requests += deltaRequests;
        errors += Math.max(0, Math.min(deltaRequests, now.errors - before.errors));
      }
      if (measured) rates.set(service.name, { perSecond, errorPercent: requests > 0 ? (100 * errors) / requests : null });
    }
    for (const id of this.readings.keys()) if (!seen.has(id)) this.readings.delete(id);
    this.readAt = readAt;
    return rates;
  }
}

function formatRate(perSecond) {
  if (perSecond === undefined) return "–";
  if (perSecond >= 100) return Math.round(perSecond).toLocaleString("en-US") + "/s";
  return (perSecond >= 10 ? perSecond.toFixed(1) : perSecond.toFixed(2)) + "/s";
}

function formatPercent(percent) {
  if (percent === undefined || percent === null) return "–";
  return (percent > 0 && percent < 0.1 ? "<0.1" : percent.toFixed(percent >= 10 || percent === 0 ? 0 : 1)) + " %";
}

async function servicesView() {
  const body = el("tbody", { id: "services-body" });
  const updated = el("span", { class: "muted", id: "services-updated", "data-test": "services-updated" });
  const columns = ["instances", "queued-high", "queued-normal", "queued-low", "running", "throughput", "errors"];
  view.replaceChildren(
    el("div", { class: "toolbar" }, el("h1", {}, "Services"), updated),
    el("table", { id: "services-table", "data-test": "services-table" },
      el("thead", {},
        el("tr", {},
          ["name", "lane", "version", "instances"].map((h) => el("th", { rowspan: 2, class: h === "instances" ? "number" : null }, h)),
          el("th", { colspan: 3, class: "group" }, "queued"),
          ["running", "jobs/s", "errors", "description", ""].map((h, i) => el("th", { rowspan: 2, class: i < 3 ? "number" : null }, h))),
        el("tr", {}, ["high", "normal", "low"].map((h) => el("th", { class: "sub" }, h)))),
      body));
  // One row per service, made once and updated in place: a refresh writes only the cells whose
  // text changed.
  const rows = new Map();
  const rates = new ServiceRates();
  let shown = new Map();
  const rowFor = (service) => {
    let row = rows.get(service.name);
    if (row) return row;
    const cells = {};
    for (const name of ["lane", "version", ...columns]) cells[name] = el("td", { "data-test": name, class: name === "lane" || name === "version" ? "" : "number" });
    cells.description = el("td", { class: "muted" });
    row = { cells, node: el("tr", { "data-service": service.name, "data-test": "service-row" },
      el("td", { "data-test": "name" }, el("a", { href: `#/jobs?service=${encodeURIComponent(service.name)}` }, service.name)),
      cells.lane, cells.version, ...columns.map((name) => cells[name]), cells.description,
      el("td", {}, el("a", { href: `#/try?service=${encodeURIComponent(service.name)}` }, "try"))) };
    rows.set(service.name, row);
    return row;
  };
  const set = (cell, text, title) => {
    if (cell.textContent !== text) cell.textContent = text;
    if (title !== undefined && cell.title !== title) cell.title = title;
  };
  const load = async () => {
    try {
      const catalogue = await apiJSON("GET", "/v1/services");
      const fresh = rates.update(catalogue);
      // Rates hold until the next answer with new counters (the gateway caches for ~2 s).
      if (fresh) shown = fresh;
      const wanted = catalogue.services.map((service) => {
        const { cells, node } = rowFor(service);
        const queue = service.queue;
        const depth = (priority) => queue ? String(queue.priorities?.[priority]?.pending ?? 0) : "–";
        const rate = shown.get(service.name);
        set(cells.lane, service.lane);
        set(cells.version, service.version);
        set(cells.instances, String(service.instances.length), service.instances.map((i) => i.worker).join(", "));
        set(cells["queued-high"], depth("high"));
        set(cells["queued-normal"], depth("normal"));
        set(cells["queued-low"], depth("low"));
        set(cells.running, queue ? String(queue.ack_pending) : "–");
        set(cells.throughput, formatRate(rate?.perSecond), `${service.stats.num_requests} handler runs in all`);
        set(cells.errors, formatPercent(rate?.errorPercent), `${service.stats.num_errors} failed in all`);
        set(cells.description, service.description);
        return node;
      });
      // Services come sorted by name; the rows move only when one comes or goes.
      const names = new Set(catalogue.services.map((service) => service.name));
      for (const [name, row] of rows) if (!names.has(name)) { row.node.remove(); rows.delete(name); }
      if (wanted.some((node, index) => body.children[index] !== node) || body.children.length !== wanted.length) body.replaceChildren(...wanted);
      updated.textContent = "updated " + new Date(catalogue.readAt).toLocaleTimeString();
      showError(null);
    } catch (error) { showError(error); }
  };
  await load();
  every(3000, load);
}
