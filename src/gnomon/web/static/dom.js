// Small DOM helpers: build elements without innerHTML, the notice line, the confirm dialog.
import { t } from "./i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** el("a", {href: "/x", class: "y"}, "text", child…) — attributes set as attributes, text as text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

let noticeTimer = null;

/** Show the outcome of an action; errors stay until dismissed, successes fade after a while. */
export function notice(content, kind = "success") {
  const box = $("#notice");
  clearTimeout(noticeTimer);
  const close = el("button", {
    type: "button", class: "notice-close", "aria-label": t("notice.dismiss"),
    onclick: () => { box.hidden = true; },
  }, "×");
  box.replaceChildren(el("div", { class: "notice-text" }, content), close);
  box.className = `notice notice-${kind}`;
  box.dataset.kind = kind;
  box.hidden = false;
  if (kind === "success") noticeTimer = setTimeout(() => { box.hidden = true; }, 15000);
}

/** Ask before an action; resolves true only when the user confirms. */
export function confirmAction({ title, body, confirmLabel, danger = false }) {
  const dialog = $("#confirm-dialog");
  $("#confirm-title").textContent = title;
  $("#confirm-body").textContent = body;
  const ok = $("#confirm-ok");
  ok.textContent = confirmLabel;
  ok.className = danger ? "button-danger" : "button-primary";
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
    dialog.showModal();
  });
}

export function showError(box, err) {
  box.textContent = err?.message || String(err);
  box.hidden = false;
}

export function hideError(box) {
  box.textContent = "";
  box.hidden = true;
}
