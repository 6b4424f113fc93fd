// What every page shares: translations, the language picker, who is logged in, log out, and
// the banner shown while no scheduler is running for this store.
import * as api from "./api.js";
import { $, notice } from "./dom.js";
import { applyTranslations, getLanguage, setLanguage, t } from "./i18n.js";

const STATUS_POLL_MS = 10000;

function setupLanguagePicker() {
  const picker = $("#language");
  picker.value = getLanguage();
  picker.addEventListener("change", () => {
    setLanguage(picker.value);
    // Reload so that the API's words (trigger descriptions, messages) follow too.
    location.reload();
  });
}

export async function refreshSchedulerStatus() {
  try {
    const status = await api.get("/scheduler/status");
    $("#scheduler-banner").hidden = status.running;
    return status;
  } catch {
    return null; // a failed probe says nothing about the scheduler
  }
}

function setupLogout() {
  const button = $("#logout");
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await api.post("/auth/logout");
      location.assign("/login");
    } catch (err) {
      notice(err.message, "error");
    }
  });
}

/**
 * Prepare the page. With login required, returns the user ({username, role, permissions,
 * isAdmin}); a missing session sends the browser to the login page instead.
 */
export async function startPage({ requireLogin = true } = {}) {
  applyTranslations(document);
  setupLanguagePicker();
  if (!requireLogin) return null;
  let user;
  try {
    user = await api.get("/auth/me");
  } catch (err) {
    // 401: api.js is already taking the browser to the login page. Anything else: say so.
    if (err.status !== 401) notice(err.message, "error");
    return new Promise(() => {}); // the page does not start
  }
  user.isAdmin = user.permissions.includes("admin");
  document.body.dataset.role = user.role;
  for (const link of document.querySelectorAll("[data-admin-nav]")) link.hidden = !user.isAdmin;
  const who = $("#whoami");
  who.textContent = t("nav.signedIn", { user: user.username, role: t(`role.${user.role}`) });
  who.hidden = false;
  setupLogout();
  refreshSchedulerStatus();
  setInterval(refreshSchedulerStatus, STATUS_POLL_MS);
  return user;
}

/** Reveal the write controls, for admins only: viewers never see them. */
export function revealAdminControls(user, root = document) {
  if (!user?.isAdmin) return;
  for (const node of root.querySelectorAll("[data-admin]")) node.hidden = false;
}
