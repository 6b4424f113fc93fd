// Forms of the administration pages: the API's per-field problems shown beside their fields.
import { $$ } from "./dom.js";

/** Show each of the API's `details` under its field (`data-error-for`); what names no field
 * of the form goes to `box`. Clears the previous errors first. */
export function showFieldErrors(form, err, box) {
  clearFieldErrors(form, box);
  const rest = [];
  for (const detail of err.details || []) {
    const slot = form.querySelector(`[data-error-for="${CSS.escape(detail.field)}"]`);
    const input = form.elements.namedItem(detail.field);
    if (!slot) { rest.push(`${detail.field}: ${detail.message}`); continue; }
    slot.textContent = detail.message;
    slot.hidden = false;
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
  }
  if (!err.details?.length || rest.length) {
    box.textContent = [err.message, ...rest].join(" ");
    box.hidden = false;
  }
}

export function clearFieldErrors(form, box) {
  for (const slot of $$("[data-error-for]", form)) { slot.textContent = ""; slot.hidden = true; }
  for (const input of $$("[aria-invalid]", form)) input.removeAttribute("aria-invalid");
  if (box) { box.textContent = ""; box.hidden = true; }
}
