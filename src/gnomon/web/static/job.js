// One job: details, next fire times, recent activity (success rates, run timeline, duration
// trend), pause/resume/run/reload, the trigger editor, the run history with output, and for
// admins the notifications and the audit trail; refreshed quickly while a run is active.
import { confirmAndCall, reloadJobs } from "./actions.js";
import * as api from "./api.js";
import { $, el, hideError, showError } from "./dom.js";
import { createActivity } from "./job-activity.js";
import { createJobAudit } from "./job-audit.js";
import {
  ACTIVE_RUN, formatDuration, formatTime, runningIndicator, stateBadge, statusBadge, timeCell, yesNo,
} from "./format.js";
import { t } from "./i18n.js";
import { refreshSchedulerStatus, revealAdminControls, startPage } from "./shell.js";
import { createTriggerEditor } from "./trigger-editor.js";

const FAST_MS = 1500;
const SLOW_MS = 10000;
const PAGE = 10;

const jobId = $("#main").dataset.jobId;
const errorBox = $("#job-error");
let user = null;
let job = null;
let editor = null;
let editorChecked = false;
let runs = [];
let nextCursor = null;
let historySnapshot = "";
const openOutputs = new Set();
let refreshTimer = null;
let activity = null;
let activityLoaded = false;
let audit = null;

function detail(key, ...value) {
  return [el("dt", {}, t(key)), el("dd", {}, ...value)];
}

function renderJob() {
  document.title = `${job.name} — gnomon`;
  $("#job-title").replaceChildren(job.name, " ", el("code", { class: "sub" }, job.id));
  $("#job-state").replaceChildren(stateBadge(job.state));
  const running = $("#job-running");
  running.hidden = job.running === 0;
  running.replaceChildren(...(job.running ? [runningIndicator(job.running)] : []));
  const overridden = job.overridden
    ? el("span", { class: "muted" }, t("job.overridden", { declared: job.declared_trigger.trigger }))
    : null;
  $("#job-details").replaceChildren(
    ...detail("job.description", job.description || t("value.none")),
    ...detail("job.trigger", el("strong", { id: "job-trigger-description" }, job.trigger_description)),
    ...detail("job.triggerText", el("code", { id: "job-trigger" }, job.trigger), overridden ? el("br") : null, overridden),
    ...detail("job.timezone", job.timezone),
    ...detail("job.nextRun", timeCell(job.next_run_time)),
    ...detail("job.lastRun", job.last_run_status ? statusBadge(job.last_run_status) : "", " ", timeCell(job.last_run_time)),
    ...detail("job.kind", t(`kind.${job.kind}`)),
    ...detail("job.func", el("code", {}, job.func)),
    ...detail("job.misfireGrace", t("value.seconds", { n: job.misfire_grace_time })),
    ...detail("job.coalesce", yesNo(job.coalesce)),
    ...detail("job.maxInstances", String(job.max_instances)),
    ...detail("job.timeout", job.timeout ? t("value.seconds", { n: job.timeout }) : t("value.none")),
    ...detail("job.builtin", yesNo(job.is_builtin)),
  );
  $("#job-next-times").replaceChildren(...job.next_run_times.map(
    (time) => el("li", {}, el("time", { datetime: time }, formatTime(time)))));
  if (!job.next_run_times.length) $("#job-next-times").append(el("li", { class: "muted" }, t("job.noNextRun")));
  if (user.isAdmin) {
    $("#pause-job").hidden = job.state === "paused";
    $("#resume-job").hidden = job.state !== "paused";
  }
}

function setupEditor() {
  editorChecked = true;
  const editable = job.editable_fields.includes("trigger");
  $("#editor-locked").hidden = editable;
  $("#trigger-form").hidden = !editable;
  if (!editable) return;
  editor = createTriggerEditor($("#trigger-form"), {
    jobId,
    onSaved: (updated) => { job = updated; renderJob(); loadHistory(); audit.load(); },
  });
  editor.fill(job);
}

function outputDetails(run) {
  const pre = el("pre", { class: "output", tabindex: "0" });
  const box = el("details", { "data-run-id": run.id },
    el("summary", {}, t("history.showOutput")), pre);
  box.addEventListener("toggle", async () => {
    if (!box.open) { openOutputs.delete(run.id); return; }
    openOutputs.add(run.id);
    pre.textContent = t("editor.checking");
    try {
      const full = await api.get(api.runPath(run.id));
      pre.textContent = [full.output, full.traceback].filter(Boolean).join("\n") || t("run.noOutput");
    } catch (err) {
      pre.textContent = err.message;
    }
  });
  if (openOutputs.has(run.id)) queueMicrotask(() => { box.open = true; });
  return box;
}

function runRow(run) {
  const started = run.started_at || run.scheduled_for || run.queued_at;
  const problem = run.error_message || run.reason;
  return el("tr", { "data-run-id": run.id, "data-status": run.status },
    el("th", { scope: "row", "data-label": t("history.col.run") },
      el("a", { href: `/runs/${encodeURIComponent(run.id)}`, title: run.id }, el("code", {}, run.id.slice(0, 8)))),
    el("td", { "data-label": t("history.col.status") }, statusBadge(run.status),
      problem ? el("span", { class: "sub" }, problem) : null),
    el("td", { "data-label": t("history.col.source") }, t(`source.${run.trigger_source}`)),
    el("td", { "data-label": t("history.col.started") }, timeCell(started)),
    el("td", { "data-label": t("history.col.duration") },
      ACTIVE_RUN.has(run.status) ? t("history.inProgress") : formatDuration(run.duration_ms)),
    el("td", { "data-label": t("history.col.output") }, outputDetails(run)));
}

/** Draw the history again if it changed; says whether it did. */
function renderHistory() {
  const snapshot = JSON.stringify(runs);
  if (snapshot === historySnapshot) return false; // keep open outputs and focus untouched
  historySnapshot = snapshot;
  $("#runs-table tbody").replaceChildren(...runs.map(runRow));
  $("#runs-empty").hidden = runs.length > 0;
  $("#runs-more").hidden = !nextCursor;
  return true;
}

async function loadHistory() {
  const limit = Math.min(500, Math.max(PAGE, runs.length));
  const page = await api.get(`${api.jobPath(jobId)}/runs?limit=${limit}`);
  runs = page.items;
  nextCursor = page.next_cursor;
  return renderHistory();
}

async function loadMore() {
  const page = await api.get(`${api.jobPath(jobId)}/runs?limit=${PAGE}&cursor=${encodeURIComponent(nextCursor)}`);
  runs = [...runs, ...page.items];
  nextCursor = page.next_cursor;
  renderHistory();
}

function deliveryRow(delivery) {
  const last = delivery.attempts.length ? delivery.attempts[delivery.attempts.length - 1] : null;
  const outcome = last ? (last.error || (last.status_code ? `HTTP ${last.status_code}` : "")) : "";
  const run = delivery.run_id
    ? el("a", { href: `/runs/${encodeURIComponent(delivery.run_id)}`, class: "sub" },
      t("deliveries.run", { run: delivery.run_id.slice(0, 8) }))
    : null;
  return el("tr", { "data-delivery-id": delivery.id, "data-status": delivery.status },
    el("td", { "data-label": t("deliveries.col.time") }, timeCell(delivery.created_at)),
    el("td", { "data-label": t("deliveries.col.event") }, el("code", {}, delivery.event), " ", run),
    el("td", { "data-label": t("deliveries.col.channel") }, delivery.channel),
    el("td", { "data-label": t("deliveries.col.status") },
      el("span", { class: `badge delivery-${delivery.status}` }, t(`deliveries.status.${delivery.status}`))),
    el("td", { "data-label": t("deliveries.col.attempts") }, String(delivery.attempt_count)),
    el("td", { "data-label": t("deliveries.col.last") },
      last ? timeCell(last.at) : "", last ? el("span", { class: "sub" }, outcome) : null));
}

async function loadDeliveries() {
  const page = await api.get(`/scheduler/deliveries?job_id=${encodeURIComponent(jobId)}&limit=${PAGE}`);
  $("#deliveries-table tbody").replaceChildren(...page.items.map(deliveryRow));
  $("#deliveries-empty").hidden = page.items.length > 0;
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    job = await api.get(api.jobPath(jobId));
    hideError(errorBox);
    renderJob();
    if (user.isAdmin && !editorChecked) setupEditor();
    // The activity and the trail follow the newest runs: read again when those changed.
    const changed = await loadHistory();
    if (changed || !activityLoaded) { await activity.load(); activityLoaded = true; }
    if (user.isAdmin) await loadDeliveries();
    if (user.isAdmin) await audit.load();
  } catch (err) {
    showError(errorBox, err.message);
    if (err.code === "SCHEDULER_NOT_RUNNING") refreshSchedulerStatus();
  }
  const active = (job && job.running > 0) || runs.some((run) => ACTIVE_RUN.has(run.status));
  refreshTimer = setTimeout(refresh, active ? FAST_MS : SLOW_MS);
}

function jobAction(action, { title, body, label, danger = false }) {
  return confirmAndCall({
    title: t(title, { job: job.name }),
    body: t(body),
    confirmLabel: t(label),
    danger,
    call: () => api.post(`${api.jobPath(jobId)}/actions/${action}`),
    describe: action === "run" ? ({ message, data }) => el("span", {}, `${message} `,
      el("a", { href: `/runs/${encodeURIComponent(data.run_id)}`, id: "notice-run-link" }, t("notice.watchRun")))
      : undefined,
  });
}

function setupActions() {
  $("#pause-job").addEventListener("click", async () => {
    const done = await jobAction("pause", { title: "confirm.pause.title", body: "confirm.pause.body", label: "actions.pause" });
    if (done) { job = done.data; renderJob(); audit.load(); }
  });
  $("#resume-job").addEventListener("click", async () => {
    const done = await jobAction("resume", { title: "confirm.resume.title", body: "confirm.resume.body", label: "actions.resume" });
    if (done) { job = done.data; renderJob(); audit.load(); }
  });
  $("#run-job").addEventListener("click", async () => {
    if (await jobAction("run", { title: "confirm.run.title", body: "confirm.run.body", label: "actions.run" })) refresh();
  });
  $("#reload-jobs").addEventListener("click", async () => {
    if (!(await reloadJobs())) return;
    await refresh();
    if (editor && job) editor.fill(job); // the reload reset the trigger to the declared one
  });
}

user = await startPage();
revealAdminControls(user);
$("#runs-more").addEventListener("click", loadMore);
activity = createActivity(jobId);
if (user.isAdmin) { setupActions(); audit = createJobAudit(jobId); }
await refresh();
