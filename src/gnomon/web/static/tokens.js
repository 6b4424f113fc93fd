// API tokens (admins only): create one for a user (its secret shown once, here), see when each
// was last used, revoke.
import { confirmAndCall } from "./actions.js";
import * as api from "./api.js";
import { $, el, hideError, notice, showError } from "./dom.js";
import { timeCell } from "./format.js";
import { clearFieldErrors, showFieldErrors } from "./forms.js";
import { t } from "./i18n.js";
import { startPage } from "./shell.js";

const TOKENS = "/auth/tokens";
const form = $("#token-form");
const errorBox = $("#tokens-error");
const cell = (key, ...content) => el("td", { "data-label": t(key) }, ...content);

function tokenState(token) {
  if (token.revoked_at) return "revoked";
  if (token.expires_at && Date.parse(token.expires_at) <= Date.now()) return "expired";
  return "active";
}

function tokenRow(token) {
  const state = tokenState(token);
  const badge = { active: "state-scheduled", expired: "state-paused", revoked: "state-finished" }[state];
  const revoke = state === "revoked" ? null : el("button", { type: "button", class: "button-danger", "data-action": "revoke" }, t("tokens.revoke"));
  revoke?.addEventListener("click", async () => {
    const done = await confirmAndCall({
      title: t("tokens.confirmRevoke.title", { name: token.name }),
      body: t("tokens.confirmRevoke.body"),
      confirmLabel: t("tokens.revoke"),
      danger: true,
      call: () => api.request("DELETE", `${TOKENS}/${token.id}`),
    });
    if (done) await load();
  });
  return el("tr", { "data-token-id": token.id, "data-state": state },
    el("th", { scope: "row", "data-label": t("tokens.col.name") }, token.name, el("span", { class: "sub" }, `#${token.id}`)),
    cell("tokens.col.user", token.user || t("value.none")),
    cell("tokens.col.status", el("span", { class: `badge ${badge}` }, t(`tokens.state.${state}`)),
      token.revoked_at ? timeCell(token.revoked_at) : null),
    cell("tokens.col.created", timeCell(token.created_at)),
    cell("tokens.col.expires", token.expires_at ? timeCell(token.expires_at) : t("tokens.never")),
    cell("tokens.col.used", token.last_used_at ? timeCell(token.last_used_at) : t("tokens.neverUsed")),
    cell("tokens.col.actions", revoke));
}

async function load() {
  try {
    const tokens = await api.get(TOKENS);
    hideError(errorBox);
    tokens.reverse(); // newest first
    $("#tokens-table tbody").replaceChildren(...tokens.map(tokenRow));
    $("#tokens-table").hidden = tokens.length === 0;
    $("#tokens-empty").hidden = tokens.length > 0;
  } catch (err) {
    showError(errorBox, err);
  }
}

async function fillUsers(me) {
  const users = await api.get("/auth/users");
  $("#token-user").replaceChildren(...users.filter((user) => !user.disabled).map((user) =>
    el("option", { value: user.username, selected: user.username === me.username },
      `${user.username} (${t(`role.${user.role}`)})`)));
}

function showSecret(secret) {
  const box = $("#token-secret");
  $("#token-secret-value").value = secret;
  box.hidden = false;
  box.focus();
  $("#token-secret-value").select();
}

async function createToken(event) {
  event.preventDefault();
  const box = $("#token-form-error");
  clearFieldErrors(form, box);
  $("#token-secret").hidden = true;
  const days = form.expires_in_days.value.trim();
  const body = { name: form.name.value.trim(), user: form.user.value };
  if (days) body.expires_in_days = /^\d+$/.test(days) ? Number(days) : days;
  try {
    const { message, data } = await api.post(TOKENS, body);
    notice(message, "success");
    form.name.value = "";
    form.expires_in_days.value = "";
    showSecret(data.token);
    await load();
  } catch (err) {
    showFieldErrors(form, err, box);
  }
}

async function copySecret() {
  const input = $("#token-secret-value");
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    notice(t("tokens.copied"), "success");
  } catch {
    notice(t("tokens.copyByHand"), "info"); // no clipboard (plain HTTP): the text is selected
  }
}

const me = await startPage();
form.addEventListener("submit", createToken);
$("#token-copy").addEventListener("click", copySecret);
await Promise.all([fillUsers(me).catch((err) => showError(errorBox, err)), load()]);
