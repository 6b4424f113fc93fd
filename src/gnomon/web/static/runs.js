// Runs of every job: filters (job, statuses, source, node, queued time range) and the page's
// cursor live in the URL, in the API's own words, so a filtered page can be bookmarked, shared
// and gone back to; the first page refreshes itself while it is shown.
import * as api from "./api.js";
import { $, $$, el, hideError, showError } from "./dom.js";
import { ACTIVE_RUN, formatDuration, statusBadge, timeCell } from "./format.js";
import { t } from "./i18n.js";
import { instant, localValue } from "./local-time.js";
import { showPaging, wireFilterPage } from "./filter-page.js";
import { startPage } from "./shell.js";

const REFRESH_MS = 10000;
const FIELDS = ["job_id", "trigger_source", "node", "since", "until"];
const form = $("#run-filters");
const errorBox = $("#runs-error");
let snapshot = "";
let refreshTimer = null;
let loads = 0; // the latest load(): an older one's answer arriving late is dropped

function fillForm(params) {
  form.job_id.value = params.get("job_id") || "";
  form.trigger_source.value = params.get("trigger_source") || "";
  form.node.value = params.get("node") || "";
  form.since.value = localValue(params.get("since"));
  form.until.value = localValue(params.get("until"));
  const statuses = new Set(params.getAll("status").flatMap((value) => value.split(",")));
  for (const box of $$("input[name=status]", form)) box.checked = statuses.has(box.value);
}

/** The URL query of the form's filters (and no cursor: a new filter starts from the newest). */
function formQuery() {
  const params = new URLSearchParams();
  const job = form.job_id.value.trim();
  if (job) params.set("job_id", job);
  const statuses = $$("input[name=status]:checked", form).map((box) => box.value);
  if (statuses.length) params.set("status", statuses.join(","));
  if (form.trigger_source.value) params.set("trigger_source", form.trigger_source.value);
  const node = form.node.value.trim();
  if (node) params.set("node", node);
  for (const name of ["since", "until"]) {
    const value = instant(form[name].value);
    if (value) params.set(name, value);
  }
  const limit = new URLSearchParams(location.search).get("limit");
  if (limit) params.set("limit", limit);
  return params;
}

function pageUrl(params) {
  const query = params.toString();
  return query ? `/runs?${query}` : "/runs";
}

function runRow(run) {
  const problem = run.error_message || run.reason;
  const cell = (key, ...content) => el("td", { "data-label": t(key) }, ...content);
  return el("tr", { "data-run-id": run.id, "data-status": run.status },
    el("th", { scope: "row", "data-label": t("history.col.run") },
      el("a", { href: `/runs/${encodeURIComponent(run.id)}`, title: run.id, class: "run-link" },
        el("code", {}, run.id.slice(0, 8)))),
    cell("runs.col.job", el("a", { href: `/jobs/${encodeURIComponent(run.job_id)}` }, run.job_id)),
    cell("history.col.status", statusBadge(run.status), problem ? el("span", { class: "sub" }, problem) : null),
    cell("history.col.source", t(`source.${run.trigger_source}`)),
    cell("runs.col.queued", timeCell(run.queued_at)),
    cell("history.col.duration",
      ACTIVE_RUN.has(run.status) ? t("history.inProgress") : formatDuration(run.duration_ms)),
    cell("runs.col.node", run.node ? el("code", {}, run.node) : el("span", { class: "muted" }, t("value.none"))));
}

function markInvalid(details) {
  const names = new Set(details.map((detail) => detail.field));
  for (const name of [...FIELDS, "status"]) {
    const inputs = name === "status" ? $$("input[name=status]", form) : [form[name]];
    for (const input of inputs) {
      if (names.has(name)) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    }
  }
}

function render(params, page) {
  const body = $("#all-runs-table tbody");
  body.replaceChildren(...page.items.map(runRow));
  const paged = params.has("cursor");
  $("#runs-summary").textContent = t(paged ? "runs.countOlder" : "runs.count", { n: page.items.length });
  const empty = $("#runs-empty");
  empty.hidden = page.items.length > 0;
  empty.textContent = t(params.toString() ? "runs.noMatch" : "runs.none");
  showPaging({
    params,
    key: "cursor",
    next: page.next_cursor,
    newest: $("#runs-newest"),
    older: $("#runs-older"),
    pageUrl,
  });
}

async function load() {
  clearTimeout(refreshTimer);
  const params = new URLSearchParams(location.search);
  const mine = ++loads;
  try {
    const page = await api.get(`/scheduler/runs?${params}`);
    if (mine !== loads) return; // a later filter's answer is (or will be) shown instead
    hideError(errorBox);
    markInvalid([]);
    // Re-render only on change, so a refresh never takes keyboard focus away from a link.
    const fresh = JSON.stringify([location.search, page]);
    if (fresh !== snapshot) {
      snapshot = fresh;
      render(params, page);
    }
  } catch (err) {
    if (mine !== loads) return;
    snapshot = "";
    showError(errorBox, err.message);
    markInvalid(err.details || []);
    $("#all-runs-table tbody").replaceChildren();
    $("#runs-summary").textContent = "";
    $("#runs-empty").hidden = true;
    $("#runs-older").hidden = true;
  }
  if (!params.has("cursor")) refreshTimer = setTimeout(load, REFRESH_MS);
}

async function suggestJobs() {
  try {
    const jobs = await api.get("/scheduler/jobs");
    $("#job-ids").replaceChildren(...jobs.map((job) => el("option", { value: job.id }, job.name)));
  } catch {
    // Suggestions only: the filter takes any job id, also of a job no longer declared.
  }
}

await startPage();
wireFilterPage({
  form,
  links: [$("#runs-newest"), $("#runs-older"), $("#clear-filters")],
  fillForm,
  formQuery,
  pageUrl,
  load,
});
suggestJobs();
await load();
