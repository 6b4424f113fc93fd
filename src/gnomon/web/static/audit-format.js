// How an audit entry reads: when, who (and from where), what, and what changed (before → after),
// as a table row for the job page's trail and the audit log page.
import { el } from "./dom.js";
import { timeCell } from "./format.js";
import { t } from "./i18n.js";

/** A value of an entry's before/after as short text: objects as `key=value` pairs. */
export function valueText(value) {
  if (value === undefined) return t("value.none");
  if (value === null) return "null";
  if (typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value).map(([key, inner]) => `${key}=${valueText(inner)}`).join(", ");
  }
  return Array.isArray(value) ? `[${value.map(valueText).join(", ")}]` : String(value);
}

/** The keys that differ between before and after, each as `key: before → after`. */
export function changes(before, after) {
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])];
  return keys
    .filter((key) => JSON.stringify(before?.[key]) !== JSON.stringify(after?.[key]))
    .map((key) => {
      if (!before || !(key in before)) return el("li", { "data-key": key }, el("strong", {}, key), ": ", valueText(after[key]));
      return el("li", { "data-key": key }, el("strong", {}, key), ": ",
        el("del", {}, valueText(before[key])), " → ", el("ins", {}, after ? valueText(after[key]) : t("value.none")));
    });
}

export function actionName(action) {
  const key = `audit.action.${action}`;
  const text = t(key);
  return text === key ? action : text;
}

const cell = (key, ...content) => el("td", { "data-label": t(key) }, ...content);

/** A row of the trail; `withTarget` adds the target column (the audit log page). */
export function auditRow(entry, { withTarget = false } = {}) {
  const changed = changes(entry.before, entry.after);
  return el("tr", { "data-audit-id": entry.id, "data-action": entry.action },
    el("td", { "data-label": t("audit.col.when") }, timeCell(entry.at)),
    cell("audit.col.actor", entry.actor, entry.client ? el("span", { class: "sub" }, entry.client) : null),
    cell("audit.col.action", el("code", { class: "sub-inline" }, entry.action), el("span", { class: "sub" }, actionName(entry.action))),
    withTarget ? cell("audit.col.target", entry.target ? el("code", {}, entry.target) : t("value.none")) : null,
    cell("audit.col.change", changed.length ? el("ul", { class: "changes" }, ...changed) : el("span", { class: "muted" }, t("value.none"))));
}
