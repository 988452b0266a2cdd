// Baton console: a hash-routed single page over the gateway's /v1/ API. Plain JavaScript, no
// build step, no dependencies (served from the gateway binary, see UIController.swift). The
// Services view is in services.js.
"use strict";

const TERMINAL = ["succeeded", "failed", "cancelled", "expired"];
const KEY = "baton-api-key";
const view = document.getElementById("view");
// What the current view started (timers, event streams), stopped when the route changes.
let teardown = [];

// MARK: - API

class APIError extends Error {
  constructor(status, problem) {
    super(problem && (problem.detail || problem.title) ? `${status}: ${problem.detail || problem.title}` : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function apiKey() { return sessionStorage.getItem(KEY) || ""; }

async function api(method, path, { body, headers = {} } = {}) {
  const all = new Headers(headers);
  if (apiKey()) all.set("Authorization", "Bearer " + apiKey());
  const response = await fetch(path, { method, headers: all, body, cache: "no-store" });
  if (response.status === 401) {
    showKeyForm();
    throw new APIError(401, await response.json().catch(() => null));
  }
  return response;
}

async function apiJSON(method, path, options) {
  const response = await api(method, path, options);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new APIError(response.status, body);
  return body;
}

// A job's events (`state`, `progress`, `done`). EventSource cannot send an Authorization
// header: with a key, the stream is read through fetch instead. Returns a function that stops it.
function followEvents(path, handlers) {
  if (!apiKey()) {
    const source = new EventSource(path);
    for (const name of ["state", "progress", "done"]) {
      source.addEventListener(name, (event) => {
        if (name === "done") source.close();
        handlers[name](JSON.parse(event.data));
      });
    }
    return () => source.close();
  }
  const abort = new AbortController();
  (async () => {
    const response = await fetch(path, { headers: { Authorization: "Bearer " + apiKey(), Accept: "text/event-stream" }, signal: abort.signal });
    if (!response.ok || !response.body) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (data && handlers[name]) handlers[name](JSON.parse(data));
      }
    }
  })().catch(() => {});
  return () => abort.abort();
}

// MARK: - Helpers

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function stateBadge(state, attributes = {}) {
  return el("span", { class: `state state-${state}`, ...attributes }, state);
}

function seconds(ms) {
  if (ms < 0 || !Number.isFinite(ms)) return "";
  const s = Math.round(ms / 1000);
  if (ms < 10000) return (ms / 1000).toFixed(1) + " s";
  if (s < 120) return s + " s";
  if (s < 7200) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function age(time) { return time ? seconds(Date.now() - Date.parse(time)) : ""; }

function duration(job) {
  if (!job.startedAt) return "";
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  return seconds(end - Date.parse(job.startedAt));
}

function jobLink(id, attributes = {}) { return el("a", { href: `#/jobs/${id}`, class: "mono", ...attributes }, id); }

function showError(error) {
  const box = document.getElementById("error");
  if (!error || (error instanceof APIError && error.status === 401)) { box.hidden = true; return; }
  box.textContent = error.message || String(error);
  box.hidden = false;
}

function every(ms, task) {
  const timer = setInterval(task, ms);
  teardown.push(() => clearInterval(timer));
}

function jobIDFromLocation(location) {
  const match = /\/v1\/jobs\/([0-9a-z]{26})/.exec(location || "");
  return match ? match[1] : null;
}

// MARK: - API key

function showKeyForm() {
  document.getElementById("key-form").hidden = false;
  document.getElementById("key-button").hidden = false;
  document.getElementById("key-input").focus();
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("key-input");
  if (input.value.trim()) sessionStorage.setItem(KEY, input.value.trim());
  input.value = "";
  document.getElementById("key-form").hidden = true;
  route();
});
document.getElementById("key-forget").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  showKeyForm();
});
document.getElementById("key-button").addEventListener("click", showKeyForm);
if (apiKey()) document.getElementById("key-button").hidden = false;

// MARK: - Jobs

async function jobsView(query) {
  const service = query.get("service") || "";
  const state = query.get("state") || "";
  const serviceInput = el("input", { id: "jobs-service", "data-test": "jobs-service", placeholder: "any service", value: service });
  const stateSelect = el("select", { id: "jobs-state", "data-test": "jobs-state" },
    ["", "queued", "running", ...TERMINAL].map((s) => el("option", { value: s, selected: s === state }, s || "any state")));
  const apply = () => {
    const next = new URLSearchParams();
    if (serviceInput.value.trim()) next.set("service", serviceInput.value.trim());
    if (stateSelect.value) next.set("state", stateSelect.value);
    location.hash = "#/jobs" + (next.toString() ? "?" + next : "");
  };
  serviceInput.addEventListener("change", apply);
  stateSelect.addEventListener("change", apply);
  const body = el("tbody", { id: "jobs-body" });
  const more = el("button", { id: "jobs-more", "data-test": "jobs-more", hidden: true }, "More");
  view.replaceChildren(
    el("div", { class: "toolbar" }, el("h1", {}, "Jobs"), serviceInput, stateSelect,
      el("button", { onclick: () => route() }, "Refresh")),
    el("table", { id: "jobs-table", "data-test": "jobs-table" },
      el("thead", {}, el("tr", {}, ["state", "service", "id", "age", "duration", "attempts"].map((h) => el("th", {}, h)))),
      body),
    el("p", {}, more));
  let next = "/v1/jobs?" + new URLSearchParams([...(service ? [["service", service]] : []), ...(state ? [["state", state]] : []), ["limit", "50"]]);
  const load = async () => {
    try {
      more.disabled = true;
      const page = await apiJSON("GET", next);
      body.append(...page.jobs.map((job) => el("tr", { class: "clickable", "data-job": job.id, "data-test": "job-row", onclick: () => { location.hash = `#/jobs/${job.id}`; } },
        el("td", { "data-test": "state" }, stateBadge(job.state)),
        el("td", { "data-test": "service" }, job.service),
        el("td", {}, jobLink(job.id)),
        el("td", { "data-test": "age" }, age(job.createdAt)),
        el("td", { "data-test": "duration" }, duration(job)),
        el("td", { "data-test": "attempts" }, String(job.attempts)))));
      next = page.next;
      more.hidden = !next;
      more.disabled = false;
      if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No jobs.")));
      showError(null);
    } catch (error) { showError(error); }
  };
  more.addEventListener("click", load);
  await load();
}

// MARK: - Job

async function jobView(id) {
  const stateBadgeElement = el("span", { id: "job-state", "data-test": "job-state" });
  const showState = (state) => {
    stateBadgeElement.className = `state state-${state}`;
    stateBadgeElement.textContent = state;
    stateBadgeElement.dataset.state = state;
  };
  const bar = el("div", { class: "progress-bar", id: "job-progress-bar" });
  const barText = el("div", { class: "progress-text", id: "job-progress-text" }, "0%");
  const progress = el("div", { class: "progress", id: "job-progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0, "data-test": "job-progress" }, bar, barText);
  const timeline = el("ol", { class: "timeline", id: "job-timeline", "data-test": "job-timeline" });
  const details = el("div", { class: "grid", id: "job-details" });
  const cancel = el("button", { id: "job-cancel", class: "danger", "data-test": "job-cancel", hidden: true }, "Cancel");
  const deadLetters = el("a", { id: "job-dead-letters", "data-test": "job-dead-letters", href: `#/dead-letters?job=${id}`, hidden: true }, "Dead letters of this job");
  const answer = el("div", { id: "job-answer", "data-test": "job-answer" }, el("span", { class: "muted" }, "No answer yet."));
  view.replaceChildren(
    el("div", { class: "toolbar" }, el("h1", {}, "Job ", el("span", { class: "mono", id: "job-id" }, id)), stateBadgeElement, cancel, deadLetters),
    details, progress,
    el("h2", {}, "Timeline"), timeline,
    el("h2", {}, "Answer"), answer);

  let current = null;
  let answered = false;
  // The last live progress event: a succeeded job's record says 100% with the message of the
  // last report it stored, which may be an earlier one.
  let lastEvent = null;
  const setProgress = (percent, message) => {
    const value = Math.max(0, Math.min(100, Math.round(percent)));
    bar.style.width = value + "%";
    progress.setAttribute("aria-valuenow", String(value));
    barText.textContent = value + "%" + (message ? " · " + message : "");
  };
  const timelineItem = (name, label, ...content) => {
    let item = timeline.querySelector(`[data-test="${name}"]`);
    if (!item) { item = el("li", { "data-test": name }); timeline.append(item); }
    item.replaceChildren(el("span", { class: "label" }, label), el("span", {}, ...content));
  };
  const apply = (job) => {
    // A late answer (a poll sent before the end) does not undo the end.
    if (current && TERMINAL.includes(current.state) && !TERMINAL.includes(job.state)) return;
    current = job;
    showState(job.state);
    details.replaceChildren(
      el("span", { class: "muted" }, "service"), el("span", { id: "job-service" }, el("a", { href: `#/jobs?service=${encodeURIComponent(job.service)}` }, job.service)),
      el("span", { class: "muted" }, "lane"), el("span", {}, job.lane),
      el("span", { class: "muted" }, "worker"), el("span", { class: "mono" }, job.worker || "–"),
      ...(job.replayOf ? [el("span", { class: "muted" }, "replay of"), el("span", {}, jobLink(job.replayOf, { id: "job-replay-of" }))] : []));
    timelineItem("created", "created", job.createdAt, el("span", { class: "muted" }, ` (${age(job.createdAt)} ago)`));
    if (job.startedAt) timelineItem("started", "started", job.startedAt);
    if (job.attempts) timelineItem("attempts", "attempts", String(job.attempts));
    const ended = TERMINAL.includes(job.state);
    if (job.progress && !(ended && lastEvent)) {
      timelineItem("progress", "progress", `${Math.round(job.progress.percent ?? 0)}%`, job.progress.message ? ` · ${job.progress.message}` : "");
      if (job.progress.percent !== undefined) setProgress(job.progress.percent, job.progress.message);
    }
    if (ended) {
      timelineItem("end", job.state, job.finishedAt || job.updatedAt, job.status ? ` · HTTP ${job.status}` : "", job.startedAt ? ` · ran ${duration(job)}` : "");
      // A job that succeeded without reporting progress is done all the same.
      if (job.state === "succeeded") setProgress(100, lastEvent && lastEvent.percent >= 100 ? lastEvent.message : "");
    }
    cancel.hidden = ended;
    deadLetters.hidden = job.state !== "failed";
    if (ended && !answered) { answered = true; loadAnswer(); }
  };
  const loadAnswer = async () => {
    try {
      const response = await api("GET", `/v1/jobs/${id}/result`);
      if (response.status === 202) { answered = false; return; }
      const type = response.headers.get("Content-Type") || "";
      const bytes = new Uint8Array(await response.arrayBuffer());
      const textual = /^text\/|json|xml|javascript|x-www-form-urlencoded/i.test(type) || !type;
      answer.replaceChildren(
        el("div", { class: "muted" }, `HTTP ${response.status}`, type ? ` · ${type}` : "", ` · ${bytes.length} bytes`),
        textual
          ? el("pre", { id: "job-answer-body", "data-test": "job-answer-body" }, new TextDecoder().decode(bytes))
          : el("p", { id: "job-answer-body", "data-test": "job-answer-binary" }, `binary answer, ${bytes.length} bytes`));
    } catch (error) {
      answer.replaceChildren(el("span", { class: "muted" }, error.message));
    }
  };
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      apply(await apiJSON("DELETE", `/v1/jobs/${id}`));
      showError(null);
    } catch (error) {
      showError(error);
    } finally { cancel.disabled = false; }
  });

  try {
    apply(await apiJSON("GET", `/v1/jobs/${id}`));
    showError(null);
  } catch (error) {
    showError(error);
    return;
  }
  if (!TERMINAL.includes(current.state)) {
    teardown.push(followEvents(`/v1/jobs/${id}/events`, {
      state: apply,
      // Only the bar: no re-render per progress event.
      progress: (event) => {
        progress.dataset.events = String(Number(progress.dataset.events || 0) + 1);
        // The stream has no event for the start: a report means the job runs.
        if (current.state === "queued") showState("running");
        lastEvent = event;
        if (event.percent !== undefined) setProgress(event.percent, event.message);
        timelineItem("progress", "progress", `${Math.round(event.percent ?? 0)}%`, event.message ? ` · ${event.message}` : "");
      },
      done: apply,
    }));
    // The events carry no start, retries or attempts: the status document, every 2 s until the end.
    every(2000, async () => {
      if (TERMINAL.includes(current.state)) return;
      try { apply(await apiJSON("GET", `/v1/jobs/${id}`)); } catch (error) { showError(error); }
    });
  }
}

// MARK: - Dead letters

async function deadLettersView(query) {
  const job = query.get("job") || "";
  const body = el("tbody", { id: "dead-letters-body" });
  const older = el("button", { id: "dead-letters-older", "data-test": "dead-letters-older", hidden: true }, "Older");
  view.replaceChildren(
    el("div", { class: "toolbar" }, el("h1", {}, "Dead letters"),
      job ? el("span", {}, "of job ", jobLink(job), " · ", el("a", { href: "#/dead-letters" }, "all")) : el("span", { class: "muted" }, "newest first"),
      el("button", { onclick: () => route() }, "Refresh")),
    el("table", { id: "dead-letters-table", "data-test": "dead-letters-table" },
      el("thead", {}, el("tr", {}, ["seq", "kind", "service", "job", "attempts", "error", "at", "replayed as", ""].map((h) => el("th", {}, h)))),
      body),
    el("p", {}, older));
  const row = (letter) => {
    const replay = el("button", { "data-test": "replay", class: "primary" }, "Replay");
    replay.addEventListener("click", async () => {
      replay.disabled = true;
      try {
        const response = await api("POST", `/v1/dead-letters/${letter.sequence}/replay`);
        if (!response.ok) throw new APIError(response.status, await response.json().catch(() => null));
        const replayed = jobIDFromLocation(response.headers.get("Location"));
        if (replayed) location.hash = `#/jobs/${replayed}`;
        else route();
      } catch (error) {
        showError(error);
        replay.disabled = false;
      }
    });
    return el("tr", { "data-sequence": letter.sequence, "data-job": letter.job, "data-test": "dead-letter-row" },
      el("td", { class: "mono" }, String(letter.sequence)),
      el("td", {}, letter.kind),
      el("td", {}, letter.service),
      el("td", {}, jobLink(letter.job)),
      el("td", { "data-test": "attempts" }, String(letter.attempts ?? "")),
      el("td", { "data-test": "error" }, letter.error || ""),
      el("td", {}, letter.at ? `${age(letter.at)} ago` : ""),
      el("td", { "data-test": "replayed-as" }, letter.replayedAs ? jobLink(letter.replayedAs) : ""),
      el("td", {}, replay));
  };
  // Newest first, a page at a time; "Older" follows the page's `next`.
  const limit = Math.min(1000, Math.max(1, parseInt(query.get("limit"), 10) || 50));
  let next = "/v1/dead-letters?" + new URLSearchParams([["order", "newest"], ...(job ? [["job", job]] : []), ["limit", String(limit)]]);
  const load = async () => {
    try {
      older.disabled = true;
      const page = await apiJSON("GET", next);
      body.querySelector('[data-test="no-dead-letters"]')?.remove();
      body.append(...page.deadLetters.map(row));
      next = page.next;
      older.hidden = !next;
      older.disabled = false;
      if (!body.children.length) body.append(el("tr", { "data-test": "no-dead-letters" }, el("td", { colspan: 9, class: "muted" }, next ? "None on this page: older ones may follow." : "No dead letters.")));
      showError(null);
    } catch (error) { showError(error); older.disabled = false; }
  };
  older.addEventListener("click", load);
  await load();
}

// MARK: - Try it

async function tryView(query) {
  const serviceSelect = el("select", { id: "try-service", "data-test": "try-service" });
  const body = el("textarea", { id: "try-body", "data-test": "try-body", spellcheck: "false" });
  body.value = query.get("body") || "{}";
  const contentType = el("input", { id: "try-content-type", "data-test": "try-content-type", value: "application/json" });
  const modeWait = el("input", { type: "radio", name: "try-mode", id: "try-mode-wait", value: "wait", checked: true, "data-test": "try-mode-wait" });
  const modeAsync = el("input", { type: "radio", name: "try-mode", id: "try-mode-async", value: "async", "data-test": "try-mode-async" });
  const wait = el("input", { type: "number", id: "try-wait", min: 0, max: 3600, value: "10", style: "width: 90px", "data-test": "try-wait" });
  const submit = el("button", { type: "submit", class: "primary", id: "try-submit", "data-test": "try-submit" }, "Submit");
  const result = el("div", { id: "try-result", "data-test": "try-result" });
  const form = el("form", { class: "form", id: "try-form" },
    el("label", { for: "try-service" }, "service"), serviceSelect,
    el("label", { for: "try-body" }, "body"), body,
    el("label", { for: "try-content-type" }, "content type"), contentType,
    el("span", {}, "answer"),
    el("span", {}, el("label", {}, modeWait, " wait up to ", wait, " s"), " ", el("label", {}, modeAsync, " respond-async (202 at once)")),
    el("span", {}), el("span", {}, submit));
  view.replaceChildren(el("h1", {}, "Try it"), form, el("h2", {}, "Answer"), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    result.replaceChildren(el("span", { class: "muted", "data-test": "try-pending" }, "waiting…"));
    try {
      const prefer = modeAsync.checked ? "respond-async" : `wait=${Math.max(0, parseInt(wait.value, 10) || 0)}`;
      const response = await api("POST", `/v1/jobs/${encodeURIComponent(serviceSelect.value)}`,
        { body: body.value, headers: { Prefer: prefer, "Content-Type": contentType.value || "application/octet-stream" } });
      if (response.status === 202) {
        const id = response.headers.get("Baton-Job-Id") || jobIDFromLocation(response.headers.get("Location"));
        if (id) { location.hash = `#/jobs/${id}`; return; }
      }
      const type = response.headers.get("Content-Type") || "";
      const text = await response.text();
      result.replaceChildren(
        el("div", { class: "muted" }, el("span", { id: "try-status", "data-test": "try-status" }, `HTTP ${response.status}`), type ? ` · ${type}` : "",
          response.headers.get("Baton-Job-Id") ? [" · job ", jobLink(response.headers.get("Baton-Job-Id"))] : ""),
        el("pre", { id: "try-answer", "data-test": "try-answer" }, text));
      showError(null);
    } catch (error) {
      result.replaceChildren();
      showError(error);
    } finally { submit.disabled = false; }
  });
  try {
    const catalogue = await apiJSON("GET", "/v1/services");
    const wanted = query.get("service");
    serviceSelect.replaceChildren(...catalogue.services.map((service) =>
      el("option", { value: service.name, selected: service.name === wanted }, `${service.name} (${service.lane})`)));
    showError(null);
  } catch (error) { showError(error); }
}

// MARK: - Router

function route() {
  for (const stop of teardown) stop();
  teardown = [];
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, search] = hash.split("?");
  const query = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean);
  const name = parts[0] || "services";
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.view === name && !(name === "jobs" && parts[1]));
  }
  document.body.dataset.view = name === "jobs" && parts[1] ? "job" : name;
  let rendering;
  if (name === "jobs" && parts[1]) rendering = jobView(decodeURIComponent(parts[1]));
  else if (name === "jobs") rendering = jobsView(query);
  else if (name === "dead-letters") rendering = deadLettersView(query);
  else if (name === "try") rendering = tryView(query);
  else rendering = servicesView();
  rendering.catch(showError);
}

window.addEventListener("hashchange", route);
route();
