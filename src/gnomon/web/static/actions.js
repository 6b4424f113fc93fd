// Write actions shared by pages: each asks for confirmation, calls the API, shows the outcome.
import * as api from "./api.js";
import { confirmAction, notice } from "./dom.js";
import { t } from "./i18n.js";
import { refreshSchedulerStatus } from "./shell.js";

/** Confirm, then call; resolves to the API's {data, message}, or null if cancelled or failed. */
export async function confirmAndCall({ title, body, confirmLabel, danger, call, describe }) {
  if (!(await confirmAction({ title, body, confirmLabel, danger }))) {
    notice(t("notice.cancelled"), "info");
    return null;
  }
  try {
    const payload = await call();
    notice(describe ? describe(payload) : payload.message, "success");
    return payload;
  } catch (err) {
    if (err.code === "SCHEDULER_NOT_RUNNING") refreshSchedulerStatus();
    notice(err.message, "error");
    return null;
  }
}

export function reloadJobs() {
  return confirmAndCall({
    title: t("confirm.reload.title"),
    body: t("confirm.reload.body"),
    confirmLabel: t("actions.reload"),
    danger: true,
    call: () => api.post("/scheduler/jobs/actions/reload"),
    describe: ({ message, data }) => `${message} — ${t("notice.reloaded", {
      reloaded: data.reloaded_count, added: data.added.length,
      removed: data.removed.length, changed: data.changed.length,
    })}`,
  });
}
