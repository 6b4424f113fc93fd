// How times, durations and statuses read in the console, in the chosen language.
// API times carry the job's own offset; they are shown in that wall-clock time, not the browser's.
import { el } from "./dom.js";
import { getLanguage, t } from "./i18n.js";

const ISO = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;

export function formatTime(iso) {
  if (!iso) return t("value.none");
  const match = ISO.exec(iso);
  if (!match) return iso;
  const offset = match[3] === "Z" || !match[3] ? "UTC" : `UTC${match[3]}`;
  return `${match[1]} ${match[2]} ${offset}`;
}

export function relativeTime(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (Number.isNaN(seconds)) return "";
  const format = new Intl.RelativeTimeFormat(getLanguage() === "zh" ? "zh-CN" : "en", { numeric: "auto" });
  const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(seconds, "second");
}

/** A time element: the job-zone time as text, relative time alongside. */
export function timeCell(iso) {
  if (!iso) return el("span", { class: "muted" }, t("value.none"));
  return el("span", { class: "time" },
    el("time", { datetime: iso }, formatTime(iso)),
    el("span", { class: "relative" }, relativeTime(iso)));
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return t("value.none");
  if (ms < 1000) return t("duration.ms", { n: ms });
  const seconds = ms / 1000;
  if (seconds < 60) return t("duration.s", { n: seconds.toFixed(seconds < 10 ? 2 : 1) });
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t("duration.min", { m: minutes, s: Math.round(seconds % 60) });
  return t("duration.h", { h: Math.floor(minutes / 60), m: minutes % 60 });
}

export const ACTIVE_RUN = new Set(["queued", "running"]);

export function statusBadge(status) {
  return el("span", { class: `badge status-${status}`, "data-status": status }, t(`status.${status}`));
}

export function stateBadge(state) {
  return el("span", { class: `badge state-${state}`, "data-state": state }, t(`state.${state}`));
}

export function runningIndicator(count) {
  return el("span", { class: "running-indicator" },
    el("span", { class: "pulse", "aria-hidden": "true" }), t("job.runningCount", { n: count }));
}

export function yesNo(value) {
  return t(value ? "value.yes" : "value.no");
}
