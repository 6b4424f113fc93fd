// The home page: the scheduler's state and nodes, jobs by state, runs by status over the last
// 24 hours and 7 days, two charts over the range chosen (?range=24h|7d; SVG images the API
// draws): runs per hour by status, and the median and 90th percentile duration per hour of the
// jobs whose runs took the most time; the runs going on now with their elapsed time, recent
// failures, and the next fires; refreshed every 10 s.
import * as api from "./api.js";
import { $, el, hideError, showError } from "./dom.js";
import { formatDuration, relativeTime, stateBadge, statusBadge, timeCell } from "./format.js";
import { getLanguage, t } from "./i18n.js";
import { refreshSchedulerStatus, startPage } from "./shell.js";

const REFRESH_MS = 10000;
const FAST_MS = 2000; // while runs go on
const STATUSES = ["succeeded", "failed", "timed_out", "missed", "skipped", "interrupted",
  "cancelled", "running", "queued"];
const PROBLEMS = ["failed", "timed_out", "missed", "interrupted"];
const RANGES = { "24h": 24, "7d": 24 * 7 }; // hours
const CHART_JOBS = 5; // the jobs the duration chart draws
const rangeSelect = $("#ov-range");
const askedRange = new URLSearchParams(location.search).get("range");
let range = Object.hasOwn(RANGES, askedRange ?? "") ? askedRange : "24h";
const errorBox = $("#overview-error");
let running = [];
const drawn = new Map();

/** Whether `value` differs from what the part `name` was last drawn from (and remember it). */
function changed(name, value) {
  const fresh = JSON.stringify(value);
  if (drawn.get(name) === fresh) return false;
  drawn.set(name, fresh);
  return true;
}

const runLink = (run, text) => el("a", { href: `/runs/${encodeURIComponent(run.id)}` }, text);
const jobLink = (jobId) => el("a", { href: `/jobs/${encodeURIComponent(jobId)}` }, jobId);
const cell = (key, ...content) => el("td", { "data-label": t(key) }, ...content);

function detail(key, ...value) {
  return [el("dt", {}, t(key)), el("dd", {}, ...value)];
}

// A node: its id, a badge for the leader and one for a `gnomon worker` (with the queues it takes
// runs from and how many it runs at once), and where and when it was last heard from.
function renderNode(node) {
  const worker = (node.roles || []).includes("worker");
  return el("li", { "data-node-id": node.id },
    el("code", {}, node.id),
    node.is_leader ? el("span", { class: "badge state-scheduled" }, t("overview.leaderMark")) : null,
    worker ? el("span", { class: "badge status-running", "data-role": "worker" }, t("overview.workerMark")) : null,
    worker ? el("span", { class: "sub", "data-worker": "" }, t("overview.workerTakes", {
      queues: (node.queues || []).join(", ") || t("value.none"), concurrency: node.concurrency ?? "?",
    })) : null,
    el("span", { class: "sub" }, t("overview.lastSeen", { host: node.host, when: relativeTime(node.last_seen) })));
}

function renderScheduler(status) {
  if (!status) return;
  const nodes = el("ul", { class: "plain" }, ...status.nodes.map(renderNode));
  $("#ov-scheduler").replaceChildren(
    ...detail("overview.state", el("span", {
      class: `badge ${status.running ? "state-scheduled" : "status-failed"}`, id: "ov-scheduler-state",
    }, t(status.running ? "overview.running" : "overview.notRunning"))),
    ...detail("overview.leader", status.leader ? el("code", {}, status.leader) : t("value.none")),
    ...detail("overview.nodes", status.nodes.length ? nodes : t("value.none")),
    ...detail("overview.version", status.version),
  );
}

function renderJobs(jobs, status, jobsError) {
  const counts = { scheduled: 0, paused: 0, finished: 0 };
  let runningNow = 0;
  if (jobs) {
    for (const job of jobs) { counts[job.state] += 1; runningNow += job.running; }
  }
  const item = (label, count, href) => el("li", {},
    el("a", { href }, el("span", { class: "count" }, String(count)), " ", label));
  const items = jobs ? [
    ...Object.entries(counts).map(([state, n]) => item(stateBadge(state), n, `/jobs?state=${state}`)),
    item(t("jobs.runningNow"), runningNow, "/jobs?state=running"),
  ] : [];
  $("#ov-jobs").replaceChildren(...items);
  const note = $("#ov-jobs-note");
  note.hidden = Boolean(jobs);
  // Without a scheduler the job list is refused; the status still counts jobs.
  if (!jobs) {
    note.textContent = [jobsError?.message, status ? t("overview.jobsTotal", status.jobs) : ""]
      .filter(Boolean).join(" ");
  }
}

function renderCounts(stats) {
  const since = (hours) => new Date(Date.parse(stats.now) - hours * 3600000).toISOString();
  const link = (status, hours, n) => el("a", {
    href: `/runs?status=${status}&since=${encodeURIComponent(since(hours))}`,
    class: n ? "count" : "count muted",
  }, String(n));
  $("#ov-run-counts tbody").replaceChildren(...STATUSES.map((status) => el("tr", { "data-status": status },
    el("th", { scope: "row" }, statusBadge(status)),
    el("td", { class: "number" }, link(status, 24, stats.totals["24h"][status])),
    el("td", { class: "number" }, link(status, 24 * 7, stats.totals["7d"][status])))));
}

function chartQuery(stats) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  return new URLSearchParams({ since: stats.since, until: stats.until, tz: zone, lang: getLanguage() });
}

function renderChart(stats) {
  const chart = $("#ov-chart");
  const words = t(`overview.range.${range}`);
  $("#ov-chart-h").textContent = t("overview.chart", { range: words });
  chart.src = `/api/v1/scheduler/stats/runs-per-hour.svg?${chartQuery(stats)}`;
  const total = stats.hours.reduce((sum, hour) =>
    sum + Object.values(hour.counts).reduce((a, b) => a + b, 0), 0);
  chart.alt = t("overview.chartAlt", { n: total, range: words });
}

function renderDurations(stats) {
  const chart = $("#ov-durations");
  const words = t(`overview.range.${range}`);
  const jobs = stats.durations.slice(0, CHART_JOBS).map((job) => job.job_id);
  $("#ov-durations-h").textContent = t("overview.durations", { range: words });
  $("#ov-durations-note").textContent = jobs.length
    ? t("overview.durationsNote", { max: CHART_JOBS, range: words })
    : t("overview.durationsNone", { range: words });
  const query = chartQuery(stats);
  query.set("jobs", String(CHART_JOBS));
  chart.src = `/api/v1/scheduler/stats/durations.svg?${query}`;
  chart.alt = jobs.length ? t("overview.durationsAlt", { range: words, jobs: jobs.join(", ") })
    : t("overview.durationsNone", { range: words });
}

function elapsed(run) {
  if (!run.started_at) return t("overview.waiting");
  return formatDuration(Math.max(0, Date.now() - Date.parse(run.started_at)));
}

function renderRunning() {
  $("#ov-running tbody").replaceChildren(...running.map((run) => el("tr", { "data-run-id": run.id },
    el("th", { scope: "row", "data-label": t("overview.col.job") }, jobLink(run.job_id), " ",
      runLink(run, el("code", { class: "sub" }, run.id.slice(0, 8)))),
    cell("overview.col.started", timeCell(run.started_at || run.queued_at)),
    cell("overview.col.elapsed", el("span", { class: "elapsed" }, elapsed(run))))));
  $("#ov-running-empty").hidden = running.length > 0;
  $("#ov-running").hidden = running.length === 0;
}

function tickElapsed() {
  const spans = document.querySelectorAll("#ov-running .elapsed");
  running.forEach((run, index) => { if (spans[index]) spans[index].textContent = elapsed(run); });
}

function renderProblems(page) {
  $("#ov-problems tbody").replaceChildren(...page.items.map((run) => el("tr", { "data-run-id": run.id },
    el("th", { scope: "row", "data-label": t("overview.col.job") }, jobLink(run.job_id)),
    cell("overview.col.status", runLink(run, statusBadge(run.status)),
      run.error_message || run.reason ? el("span", { class: "sub" }, run.error_message || run.reason) : null),
    cell("overview.col.when", timeCell(run.queued_at)))));
  $("#ov-problems-empty").hidden = page.items.length > 0;
  $("#ov-problems").hidden = page.items.length === 0;
}

function renderNext(jobs, jobsError) {
  const next = (jobs || []).filter((job) => job.next_run_time && job.state === "scheduled")
    .sort((a, b) => Date.parse(a.next_run_time) - Date.parse(b.next_run_time)).slice(0, 8);
  $("#ov-next tbody").replaceChildren(...next.map((job) => el("tr", { "data-job-id": job.id },
    el("th", { scope: "row", "data-label": t("overview.col.job") }, jobLink(job.id),
      job.name && job.name !== job.id ? el("span", { class: "sub" }, job.name) : null),
    cell("overview.col.next", timeCell(job.next_run_time)),
    cell("overview.col.trigger", job.trigger_description))));
  const empty = $("#ov-next-empty");
  empty.hidden = next.length > 0;
  $("#ov-next").hidden = next.length === 0;
  empty.textContent = jobs ? t("overview.noNext") : jobsError?.message || "";
}

/** Where the charts' range begins: its hours or days before now. */
function rangeStart() {
  return new Date(Date.now() - RANGES[range] * 3600000).toISOString();
}

/** Each part of the page from its own call; one that fails leaves the others. */
async function settle(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

async function load() {
  const asked = range;
  const problems = PROBLEMS.join(",");
  const [status, stats, jobs, runningPage, problemPage] = await Promise.all([
    settle(api.get("/scheduler/status")),
    settle(api.get(`/scheduler/stats?since=${encodeURIComponent(rangeStart())}`)),
    settle(api.get("/scheduler/jobs")),
    settle(api.get("/scheduler/runs?status=queued,running&limit=50")),
    settle(api.get(`/scheduler/runs?status=${problems}&limit=8`)),
  ]);
  const failed = [status, stats, runningPage, problemPage].find((part) => part.error);
  if (failed) showError(errorBox, failed.error.message);
  else hideError(errorBox);
  if (jobs.error?.code === "SCHEDULER_NOT_RUNNING") refreshSchedulerStatus();
  // Each part is drawn again only when its data changed, so a refresh never takes keyboard
  // focus away from a link in another part.
  if (changed("scheduler", status.value)) renderScheduler(status.value);
  if (changed("jobs", [jobs.value, status.value?.jobs, jobs.error?.message])) {
    renderJobs(jobs.value, status.value, jobs.error);
    renderNext(jobs.value, jobs.error);
  }
  if (stats.value && changed("counts", stats.value.totals)) renderCounts(stats.value);
  // A load begun before the range changed draws no chart of the old range.
  if (stats.value && asked === range) {
    if (changed("hours", [range, stats.value.hours])) renderChart(stats.value);
    if (changed("durations", [range, stats.value.durations])) renderDurations(stats.value);
  }
  if (runningPage.value && changed("running", runningPage.value)) {
    running = runningPage.value.items;
    renderRunning();
  }
  if (problemPage.value && changed("problems", problemPage.value)) renderProblems(problemPage.value);
}

async function refresh() {
  await load();
  setTimeout(refresh, running.length ? FAST_MS : REFRESH_MS);
}

rangeSelect.value = range;
rangeSelect.addEventListener("change", () => {
  range = rangeSelect.value;
  const url = new URL(location.href);
  if (range === "24h") url.searchParams.delete("range");
  else url.searchParams.set("range", range);
  history.replaceState(null, "", url);
  load();
});

await startPage();
await refresh();
setInterval(tickElapsed, 1000);
