// The login page: CSRF token, then POST /auth/login, then on to where the user was going.
import * as api from "./api.js";
import { $, hideError, showError } from "./dom.js";
import { t } from "./i18n.js";
import { nextPath } from "./next-path.js";
import { startPage } from "./shell.js";

await startPage({ requireLogin: false });
const form = $("#login-form");
const error = $("#login-error");
const button = form.querySelector("button[type=submit]");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  hideError(error);
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError(error, t("login.missing"));
    (username ? form.password : form.username).focus();
    return;
  }
  button.disabled = true;
  try {
    const { data } = await api.post("/auth/login", { username, password });
    api.setCsrfToken(data.csrf_token);
    location.assign(nextPath());
  } catch (err) {
    showError(error, err.message);
    form.password.select();
  } finally {
    button.disabled = false;
  }
});

// The form is usable only now that the submit goes through the handler above.
button.disabled = false;

try {
  await api.get("/auth/me");
  location.replace(nextPath()); // already logged in
} catch {
  // not logged in: stay here
}
