// One run: status, times, output and traceback, refreshed every second while it runs.
import { confirmAndCall } from "./actions.js";
import * as api from "./api.js";
import { $, el, hideError, showError } from "./dom.js";
import { ACTIVE_RUN, formatDuration, statusBadge, timeCell } from "./format.js";
import { t } from "./i18n.js";
import { startPage } from "./shell.js";

const LIVE_MS = 1000;
const runId = $("#main").dataset.runId;
const errorBox = $("#run-error");
let user = null;
let run = null;

function detail(key, ...value) {
  return [el("dt", {}, t(key)), el("dd", {}, ...value)];
}

function render() {
  const jobHref = `/jobs/${encodeURIComponent(run.job_id)}`;
  const link = $("#run-job-link");
  link.href = jobHref;
  link.textContent = t("run.backToJob", { job: run.job_id });
  const rows = [
    ...detail("run.job", el("a", { href: jobHref }, run.job_id)),
    ...detail("run.status", statusBadge(run.status)),
    ...detail("run.source", t(`source.${run.trigger_source}`)),
    ...detail("run.scheduledFor", timeCell(run.scheduled_for)),
    ...detail("run.queuedAt", timeCell(run.queued_at)),
    ...detail("run.startedAt", timeCell(run.started_at)),
    ...detail("run.finishedAt", timeCell(run.finished_at)),
    ...detail("run.duration", ACTIVE_RUN.has(run.status) ? t("history.inProgress") : formatDuration(run.duration_ms)),
  ];
  if (run.exit_code !== null) rows.push(...detail("run.exitCode", String(run.exit_code)));
  if (run.error_type || run.error_message) {
    rows.push(...detail("run.error", [run.error_type, run.error_message].filter(Boolean).join(": ")));
  }
  if (run.reason) rows.push(...detail("run.reason", run.reason));
  if (run.fire_count > 1) rows.push(...detail("run.fireCount", String(run.fire_count)));
  if (run.attempt > 1) rows.push(...detail("run.attempt", String(run.attempt)));
  if (run.retry_of) {
    const href = `/runs/${encodeURIComponent(run.retry_of)}`;
    rows.push(...detail("run.retryOf", el("a", { href, id: "run-retry-of" }, el("code", {}, run.retry_of))));
  }
  if (run.not_before && run.status === "queued") rows.push(...detail("run.notBefore", timeCell(run.not_before)));
  if (run.manual_job_id) rows.push(...detail("run.manualJobId", el("code", {}, run.manual_job_id)));
  if (run.node) rows.push(...detail("run.node", run.node));
  $("#run-details").replaceChildren(...rows);
  $("#run-output").textContent = run.output || (ACTIVE_RUN.has(run.status) ? "" : t("run.noOutput"));
  $("#run-traceback-wrap").hidden = !run.traceback;
  $("#run-traceback").textContent = run.traceback || "";
  const active = ACTIVE_RUN.has(run.status);
  $("#run-live").hidden = !active;
  $("#cancel-run").hidden = !(user.isAdmin && active && !run.cancel_requested);
}

async function load() {
  try {
    run = await api.get(api.runPath(runId));
    hideError(errorBox);
    render();
  } catch (err) {
    showError(errorBox, err.message);
    if (err.status === 0) setTimeout(load, 5 * LIVE_MS); // the server is away: try again later
    return;
  }
  if (ACTIVE_RUN.has(run.status)) setTimeout(load, LIVE_MS);
}

user = await startPage();
$("#cancel-run").addEventListener("click", async () => {
  const done = await confirmAndCall({
    title: t("confirm.cancel.title"),
    body: t("confirm.cancel.body"),
    confirmLabel: t("actions.cancel"),
    danger: true,
    call: () => api.post(`${api.runPath(runId)}/actions/cancel`),
  });
  if (done) { run = done.data; render(); }
});
await load();
