// Users (admins only): add a user, change a role, disable or enable, set a password, end every
// session of a user. Each change asks first and says what happened.
import { confirmAndCall } from "./actions.js";
import * as api from "./api.js";
import { $, el, hideError, notice, showError } from "./dom.js";
import { timeCell } from "./format.js";
import { clearFieldErrors, showFieldErrors } from "./forms.js";
import { t } from "./i18n.js";
import { startPage } from "./shell.js";

const USERS = "/auth/users";
const errorBox = $("#users-error");
const form = $("#user-form");
const dialog = $("#password-dialog");
const passwordForm = $("#password-form");
let me = null;
let passwordFor = null;

const userPath = (username) => `${USERS}/${encodeURIComponent(username)}`;
const cell = (key, ...content) => el("td", { "data-label": t(key) }, ...content);

function patch(user, body, { title, bodyKey, label, danger = false }) {
  return confirmAndCall({
    title: t(title, { user: user.username }),
    body: t(bodyKey),
    confirmLabel: t(label),
    danger,
    call: () => api.request("PATCH", userPath(user.username), body),
  });
}

function roleSelect(user) {
  const select = el("select", {
    "aria-label": t("users.roleOf", { user: user.username }), "data-role-of": user.username,
  }, ...["viewer", "admin"].map((role) => el("option", { value: role, selected: role === user.role }, t(`role.${role}`))));
  select.addEventListener("change", async () => {
    const done = await patch(user, { role: select.value }, {
      title: "users.confirmRole.title", bodyKey: select.value === "admin" ? "users.confirmRole.admin" : "users.confirmRole.viewer",
      label: "users.confirmRole.ok",
    });
    if (!done) select.value = user.role;
    await load();
  });
  return select;
}

function actionsFor(user) {
  const toggle = el("button", { type: "button", class: user.disabled ? "" : "button-danger", "data-action": user.disabled ? "enable" : "disable" },
    t(user.disabled ? "users.enable" : "users.disable"));
  toggle.addEventListener("click", async () => {
    const disabling = !user.disabled;
    const done = await patch(user, { disabled: disabling }, disabling
      ? { title: "users.confirmDisable.title", bodyKey: "users.confirmDisable.body", label: "users.disable", danger: true }
      : { title: "users.confirmEnable.title", bodyKey: "users.confirmEnable.body", label: "users.enable" });
    if (done) await load();
  });
  const password = el("button", { type: "button", "data-action": "set-password" }, t("users.setPassword"));
  password.addEventListener("click", () => openPasswordDialog(user));
  const end = el("button", { type: "button", class: "button-quiet", "data-action": "end-sessions" }, t("users.endSessions"));
  end.addEventListener("click", async () => {
    const done = await confirmAndCall({
      title: t("users.confirmEnd.title", { user: user.username }),
      body: t("users.confirmEnd.body"),
      confirmLabel: t("users.endSessions"),
      danger: true,
      call: () => api.post(`${userPath(user.username)}/actions/end-sessions`),
    });
    if (done && user.username === me.username) location.assign("/login");
  });
  return el("div", { class: "row-actions" }, toggle, password, end);
}

function userRow(user) {
  const self = user.username === me.username ? el("span", { class: "sub" }, t("users.you")) : null;
  return el("tr", { "data-username": user.username, "data-disabled": String(user.disabled) },
    el("th", { scope: "row", "data-label": t("users.col.user") }, user.username, self),
    cell("users.col.role", roleSelect(user)),
    cell("users.col.status", el("span", { class: `badge ${user.disabled ? "state-finished" : "state-scheduled"}` },
      t(user.disabled ? "users.disabled" : "users.active"))),
    cell("users.col.created", timeCell(user.created_at)),
    cell("users.col.password", timeCell(user.password_changed_at)),
    cell("users.col.actions", actionsFor(user)));
}

/** Which control of which row has the focus, to give it back once the rows are drawn again. */
function focusedControl() {
  const active = document.activeElement;
  const row = active?.closest?.("tr[data-username]");
  if (!row) return null;
  return { username: row.dataset.username, select: "roleOf" in active.dataset, action: active.dataset.action };
}

function refocus(spot) {
  if (!spot) return;
  const row = $(`tr[data-username="${CSS.escape(spot.username)}"]`);
  if (!row) return;
  // A toggled button changes its action (disable ↔ enable): fall back to the row's first button.
  const target = spot.select ? row.querySelector("select")
    : row.querySelector(`button[data-action="${spot.action}"]`) || row.querySelector("button");
  target?.focus();
}

async function load() {
  const spot = focusedControl();
  try {
    const users = await api.get(USERS);
    hideError(errorBox);
    $("#users-table tbody").replaceChildren(...users.map(userRow));
    refocus(spot);
  } catch (err) {
    showError(errorBox, err);
  }
}

function openPasswordDialog(user) {
  passwordFor = user.username;
  $("#password-title").textContent = t("users.passwordTitle", { user: user.username });
  passwordForm.reset();
  clearFieldErrors(passwordForm, $("#password-form-error"));
  dialog.showModal();
}

async function submitPassword(event) {
  event.preventDefault();
  const box = $("#password-form-error");
  try {
    const { message } = await api.post(`${userPath(passwordFor)}/actions/set-password`,
      { password: passwordForm.password.value });
    dialog.close();
    notice(message, "success");
    if (passwordFor === me.username) location.assign("/login");
    await load();
  } catch (err) {
    showFieldErrors(passwordForm, err, box);
  }
}

async function createUser(event) {
  event.preventDefault();
  const box = $("#user-form-error");
  clearFieldErrors(form, box);
  const body = { username: form.username.value.trim(), role: form.role.value, password: form.password.value };
  try {
    const { message, data } = await api.post(USERS, body);
    notice(`${message}: ${data.username}`, "success");
    form.reset();
    await load();
  } catch (err) {
    showFieldErrors(form, err, box);
  }
}

me = await startPage();
form.addEventListener("submit", createUser);
passwordForm.addEventListener("submit", submitPassword);
$("#password-cancel").addEventListener("click", () => dialog.close());
await load();
