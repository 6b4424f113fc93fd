// The trigger editor: cron (one expression or separate fields), interval or date, with a
// timezone. Every change is checked by POST /scheduler/triggers/preview, which answers the
// next 5 fire times or per-field errors shown next to the fields; saving is a PUT.
import * as api from "./api.js";
import { $, $$, el, hideError, notice, showError } from "./dom.js";
import { formatTime } from "./format.js";
import { t } from "./i18n.js";

const PREVIEW_DELAY_MS = 300;
const CRON_FIELDS = [
  ["cron_second", "second"], ["cron_minute", "minute"], ["cron_hour", "hour"],
  ["cron_day", "day"], ["cron_month", "month"], ["cron_weekday", "day_of_week"], ["year", "year"],
];
const INTERVAL_UNITS = ["weeks", "days", "hours", "minutes", "seconds"];

export function createTriggerEditor(form, { jobId, onSaved }) {
  const save = $("#save-trigger", form);
  const formError = $("#editor-error", form);
  const status = $("#preview-status", form);
  let job = null;
  let dirty = false;
  let previewOk = false;
  let sequence = 0;
  let timer = null;

  const value = (name) => form.elements[name].value.trim();
  const type = () => form.elements.trigger_type.value;
  const cronMode = () => form.elements.cron_mode.value;

  function showPanels() {
    for (const panel of $$("[data-for-type]", form)) {
      const active = panel.dataset.forType === type();
      panel.hidden = !active;
      for (const input of $$("input", panel)) if (input.type !== "radio") input.disabled = !active;
    }
    for (const panel of $$("[data-cron-mode]", form)) {
      const active = type() === "cron" && panel.dataset.cronMode === cronMode();
      panel.hidden = !active;
      for (const input of $$("input", panel)) input.disabled = !active;
    }
  }

  /** The PUT / preview body the form describes; empty optional fields are left out. */
  function body() {
    const data = { trigger_type: type() };
    if (value("timezone")) data.timezone = value("timezone");
    if (type() === "cron" && cronMode() === "expression") {
      data.cron_expression = value("cron_expression");
    } else if (type() === "cron") {
      for (const [name] of CRON_FIELDS) if (value(name)) data[name] = value(name);
    } else if (type() === "interval") {
      for (const name of [...INTERVAL_UNITS, "jitter"]) {
        if (value(name) !== "") data[name] = Number.isInteger(Number(value(name))) ? Number(value(name)) : value(name);
      }
      if (value("start_date")) data.start_date = value("start_date");
    } else if (type() === "date") {
      data.run_date = value("run_date");
    }
    return data;
  }

  function clearFieldErrors() {
    for (const box of $$("[data-error-for]", form)) {
      box.hidden = true;
      box.textContent = "";
    }
    for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
    hideError(formError);
  }

  function showFieldErrors(details, fallback) {
    const unplaced = [];
    for (const { field, message } of details) {
      const box = $(`[data-error-for="${CSS.escape(field)}"]`, form);
      const input = form.elements[field];
      if (!box || (input && input.disabled)) {
        unplaced.push(`${field}: ${message}`);
        continue;
      }
      box.textContent = box.hidden ? message : `${box.textContent}; ${message}`;
      box.hidden = false;
      if (input instanceof HTMLInputElement) input.setAttribute("aria-invalid", "true");
    }
    if (unplaced.length || !details.length) showError(formError, [fallback, ...unplaced].join(" — "));
  }

  function showPreview(data) {
    $("#preview-description", form).textContent = data ? `${data.description} · ${data.trigger}` : "";
    $("#preview-times", form).replaceChildren(
      ...(data?.next_run_times ?? []).map((time) => el("li", {}, el("time", { datetime: time }, formatTime(time)))));
    if (data && !data.next_run_times.length) status.textContent = t("editor.noFutureTimes");
  }

  async function preview() {
    const mine = ++sequence;
    status.textContent = t("editor.checking");
    try {
      const { data } = await api.post("/scheduler/triggers/preview", body());
      if (mine !== sequence) return; // a newer edit is being checked
      clearFieldErrors();
      previewOk = true;
      status.textContent = dirty ? t("editor.valid") : t("editor.current");
      showPreview(data);
    } catch (err) {
      if (mine !== sequence) return;
      clearFieldErrors();
      previewOk = false;
      status.textContent = t("editor.invalid");
      showPreview(null);
      if (err.code === "VALIDATION_ERROR") showFieldErrors(err.details, err.message);
      else showError(formError, err.message);
    }
    save.disabled = !(dirty && previewOk);
    form.dataset.ready = "true"; // filled and checked once: safe to edit (tests wait for it)
  }

  function schedulePreview() {
    clearTimeout(timer);
    save.disabled = true;
    timer = setTimeout(preview, PREVIEW_DELAY_MS);
  }

  /** Fill the form with the job's current trigger and preview it. */
  function fill(current) {
    job = current;
    dirty = false;
    delete form.dataset.ready;
    form.reset();
    const args = job.trigger_args;
    form.elements.trigger_type.value = job.trigger_type;
    form.elements.cron_mode.value = "expression";
    form.elements.timezone.value = job.timezone;
    if (job.trigger_type === "cron") {
      form.elements.cron_expression.value = job.cron_expression ?? "";
      for (const [name, key] of CRON_FIELDS) form.elements[name].value = args[key] ?? "";
    } else if (job.trigger_type === "interval") {
      for (const name of INTERVAL_UNITS) form.elements[name].value = args[name] ?? 0;
      form.elements.jitter.value = args.jitter ?? "";
      // Sent back as it is, so the preview of the current trigger keeps its phase.
      form.elements.start_date.value = args.start_date ?? "";
    } else if (job.trigger_type === "date") {
      form.elements.run_date.value = args.run_date ?? "";
    }
    showPanels();
    clearFieldErrors();
    preview();
  }

  async function submit(event) {
    event.preventDefault();
    if (save.disabled) return;
    save.disabled = true;
    try {
      const { data, message } = await api.put(api.jobPath(jobId), body());
      notice(`${message} — ${data.trigger_description}`, "success");
      fill(data);
      onSaved(data);
    } catch (err) {
      clearFieldErrors();
      if (err.code === "VALIDATION_ERROR") showFieldErrors(err.details, err.message);
      else showError(formError, err.message);
      save.disabled = false;
    }
  }

  form.addEventListener("input", () => {
    dirty = true;
    showPanels();
    schedulePreview();
  });
  form.addEventListener("submit", submit);
  $("#reset-trigger", form).addEventListener("click", () => job && fill(job));
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("#timezones").replaceChildren(...zones.map((zone) => el("option", { value: zone })));

  return { fill, isDirty: () => dirty };
}
