// A job's recent activity: success rates (last 24 h, last 7 days, last runs), a timeline of
// its last runs (one mark per run in its status colour; hover or focus shows the details,
// arrow keys move between marks) and the duration trend, an SVG image the API draws.
import * as api from "./api.js";
import { $, el } from "./dom.js";
import { ACTIVE_RUN, formatDuration, formatTime, statusBadge } from "./format.js";
import { getLanguage, t } from "./i18n.js";

export const TIMELINE_RUNS = 50;
// A success rate counts the runs that ended, good or bad. Skipped runs (overlap policy) and
// cancelled ones (an operator's choice) say nothing about the job's health: left out.
const COUNTED = ["succeeded", "failed", "timed_out", "interrupted", "missed"];

/** {succeeded, counted} of a {status: count} map. */
export function successOf(counts) {
  const counted = COUNTED.reduce((sum, status) => sum + (counts[status] || 0), 0);
  return { succeeded: counts.succeeded || 0, counted };
}

function countRuns(runs) {
  const counts = {};
  for (const run of runs) counts[run.status] = (counts[run.status] || 0) + 1;
  return counts;
}

function rateItem(id, label, counts) {
  const { succeeded, counted } = successOf(counts);
  const percent = counted ? Math.round((succeeded / counted) * 100) : null;
  const level = percent === null ? "none" : percent >= 95 ? "good" : percent >= 80 ? "fair" : "poor";
  return el("div", { class: "rate", id, "data-level": level },
    el("dt", {}, label),
    el("dd", {},
      el("span", { class: "rate-value" }, percent === null ? t("value.none") : `${percent}%`),
      el("span", { class: "sub" }, counted
        ? t("activity.rateOf", { ok: succeeded, n: counted })
        : t("activity.noFinished"))));
}

function describe(run) {
  const parts = [t(`status.${run.status}`)];
  if (run.scheduled_for) parts.push(t("activity.scheduled", { when: formatTime(run.scheduled_for) }));
  if (run.started_at) parts.push(t("activity.started", { when: formatTime(run.started_at) }));
  else parts.push(t("activity.queued", { when: formatTime(run.queued_at) }));
  parts.push(ACTIVE_RUN.has(run.status)
    ? t("history.inProgress") : t("activity.took", { duration: formatDuration(run.duration_ms) }));
  return parts.join(" · ");
}

/** The timeline of `runs` (newest first, as the API lists them), drawn oldest first. */
function timelineMarks(runs, showDetail) {
  const ordered = [...runs].reverse();
  return ordered.map((run, index) => el("a", {
    class: "mark",
    href: `/runs/${encodeURIComponent(run.id)}`,
    "data-run-id": run.id,
    "data-status": run.status,
    "aria-label": describe(run),
    tabindex: index === ordered.length - 1 ? "0" : "-1",
    onmouseenter: () => showDetail(run),
    onfocus: () => showDetail(run),
  }));
}

/** One tab stop for the whole timeline: arrows, Home and End move the focus along it. */
function moveFocus(event) {
  const marks = [...event.currentTarget.querySelectorAll(".mark")];
  const at = marks.indexOf(document.activeElement);
  if (at < 0) return;
  const next = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: marks.length - 1 }[event.key];
  if (next === undefined || next < 0 || next >= marks.length) return;
  event.preventDefault();
  marks[at].tabIndex = -1;
  marks[next].tabIndex = 0;
  marks[next].focus();
}

export function createActivity(jobId) {
  const timeline = $("#run-timeline");
  const detail = $("#timeline-detail");
  timeline.addEventListener("keydown", moveFocus);
  let drawn = "";
  let chartKey = "";

  function showDetail(run) {
    detail.replaceChildren(statusBadge(run.status), " ",
      el("a", { href: `/runs/${encodeURIComponent(run.id)}` }, el("code", {}, run.id.slice(0, 8))),
      " ", describe(run).split(" · ").slice(1).join(" · "));
    detail.dataset.runId = run.id;
  }

  function renderRates(stats, runs) {
    $("#success-rates").replaceChildren(
      rateItem("rate-24h", t("activity.rate24h"), stats ? stats.totals["24h"] : {}),
      rateItem("rate-7d", t("activity.rate7d"), stats ? stats.totals["7d"] : {}),
      rateItem("rate-last",
        runs.length === 1 ? t("activity.rateLastOne") : t("activity.rateLast", { n: runs.length }), countRuns(runs)));
  }

  function renderTimeline(runs) {
    const focused = timeline.contains(document.activeElement) ? document.activeElement.dataset.runId : null;
    timeline.replaceChildren(...timelineMarks(runs, showDetail));
    timeline.hidden = runs.length === 0;
    $("#timeline-empty").hidden = runs.length > 0;
    if (focused) {
      const again = timeline.querySelector(`.mark[data-run-id="${CSS.escape(focused)}"]`);
      if (again) {
        for (const mark of timeline.querySelectorAll(".mark")) mark.tabIndex = -1;
        again.tabIndex = 0;
        again.focus();
      }
    }
    if (runs.length && !runs.some((run) => run.id === detail.dataset.runId)) showDetail(runs[0]);
    if (!runs.length) detail.replaceChildren();
  }

  // The image is fetched and shown as a data: URL: the chart's address stays the same while
  // the runs change, and an <img> given the same address again would not load it again.
  async function renderChart(runs) {
    const finished = runs.filter((run) => run.duration_ms !== null && run.duration_ms !== undefined);
    const key = JSON.stringify(finished.map((run) => [run.id, run.duration_ms, run.status]));
    if (key === chartKey) return;
    chartKey = key;
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const query = new URLSearchParams({ limit: TIMELINE_RUNS, tz: zone, lang: getLanguage() });
    const url = `/api/v1${api.jobPath(jobId)}/durations.svg?${query}`;
    const chart = $("#duration-chart");
    const answer = await fetch(url, { credentials: "same-origin" });
    if (!answer.ok) { chartKey = ""; return; }
    chart.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(await answer.text())}`;
    chart.dataset.source = url;
    chart.alt = t("activity.chartAlt", { n: finished.length });
  }

  /** Load and draw again (only the parts whose data changed). */
  async function load() {
    const [page, stats] = await Promise.all([
      api.get(`${api.jobPath(jobId)}/runs?limit=${TIMELINE_RUNS}`),
      api.get(`/scheduler/stats?job_id=${encodeURIComponent(jobId)}`).catch(() => null),
    ]);
    const snapshot = JSON.stringify([page.items, stats?.totals]);
    if (snapshot === drawn) return;
    drawn = snapshot;
    renderRates(stats, page.items);
    renderTimeline(page.items);
    await renderChart(page.items);
  }

  return { load };
}
