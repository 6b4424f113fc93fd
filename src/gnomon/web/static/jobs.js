// The jobs table: state, trigger in words, next and last run, running indicator; filter by
// state and search by id or name (kept in the URL); refreshed every few seconds.
import { reloadJobs } from "./actions.js";
import * as api from "./api.js";
import { $, el } from "./dom.js";
import { runningIndicator, stateBadge, statusBadge, timeCell } from "./format.js";
import { t } from "./i18n.js";
import { refreshSchedulerStatus, revealAdminControls, startPage } from "./shell.js";

const REFRESH_MS = 5000;
const filters = $("#job-filters");
const body = $("#jobs-table tbody");
const empty = $("#jobs-empty");
let jobs = [];
let loadError = null;
let snapshot = "";

function readFilters() {
  const params = new URLSearchParams(location.search);
  filters.state.value = params.get("state") || "";
  filters.q.value = params.get("q") || "";
}

function writeFilters() {
  const params = new URLSearchParams();
  if (filters.state.value) params.set("state", filters.state.value);
  if (filters.q.value.trim()) params.set("q", filters.q.value.trim());
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function matches(job) {
  const state = filters.state.value;
  if (state === "running" ? job.running === 0 : state && job.state !== state) return false;
  const needle = filters.q.value.trim().toLowerCase();
  return !needle || job.id.toLowerCase().includes(needle) || job.name.toLowerCase().includes(needle);
}

function cell(labelKey, ...content) {
  return el("td", { "data-label": t(labelKey) }, ...content);
}

function row(job) {
  const href = `/jobs/${encodeURIComponent(job.id)}`;
  return el("tr", { "data-job-id": job.id },
    el("th", { scope: "row", "data-label": t("jobs.col.job") },
      el("a", { href, class: "job-link" }, job.name || job.id),
      job.name && job.name !== job.id ? el("code", { class: "sub" }, job.id) : null),
    cell("jobs.col.state", stateBadge(job.state), job.running > 0 ? runningIndicator(job.running) : null),
    cell("jobs.col.trigger", el("span", {}, job.trigger_description),
      el("code", { class: "sub" }, job.trigger)),
    cell("jobs.col.next", timeCell(job.next_run_time)),
    cell("jobs.col.last", job.last_run_status ? statusBadge(job.last_run_status) : null,
      timeCell(job.last_run_time)));
}

function render() {
  const shown = jobs.filter(matches);
  body.replaceChildren(...shown.map(row));
  $("#jobs-count").textContent = loadError ? "" : t("jobs.count", { shown: shown.length, total: jobs.length });
  empty.hidden = shown.length > 0;
  empty.textContent = loadError ? loadError.message : t(jobs.length ? "jobs.noMatch" : "jobs.none");
  empty.classList.toggle("form-error", Boolean(loadError));
}

async function load() {
  try {
    jobs = await api.get("/scheduler/jobs");
    loadError = null;
  } catch (err) {
    loadError = err;
    if (err.code === "SCHEDULER_NOT_RUNNING") refreshSchedulerStatus();
  }
  // Re-render only on change, so a refresh never takes keyboard focus away from a row.
  const fresh = JSON.stringify([jobs, loadError?.message]);
  if (fresh !== snapshot) {
    snapshot = fresh;
    render();
  }
}

const user = await startPage();
revealAdminControls(user);
readFilters();
filters.addEventListener("input", () => { writeFilters(); render(); });
filters.addEventListener("submit", (event) => event.preventDefault());
$("#reload-jobs").addEventListener("click", async () => { if (await reloadJobs()) load(); });
await load();
setInterval(load, REFRESH_MS);
