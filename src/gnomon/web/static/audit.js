// The audit log (admins only): who did what, when, from where, before and after. The filters
// (actor, action, job, time range) and the page (before_id) live in the URL in the API's own
// words, so a filtered page can be bookmarked, shared and gone back to.
import * as api from "./api.js";
import { auditRow } from "./audit-format.js";
import { $, el, hideError, showError } from "./dom.js";
import { t } from "./i18n.js";
import { instant, localValue } from "./local-time.js";
import { showPaging, wireFilterPage } from "./filter-page.js";
import { startPage } from "./shell.js";

const FIELDS = ["actor", "action", "job_id", "since", "until"];
const form = $("#audit-filters");
const errorBox = $("#audit-error");
let loads = 0;

function fillForm(params) {
  for (const name of ["actor", "action", "job_id"]) form[name].value = params.get(name) || "";
  form.since.value = localValue(params.get("since"));
  form.until.value = localValue(params.get("until"));
}

/** The URL query of the form's filters (and no before_id: a new filter starts from the newest). */
function formQuery() {
  const params = new URLSearchParams();
  for (const name of ["actor", "action", "job_id"]) {
    const value = form[name].value.trim();
    if (value) params.set(name, value);
  }
  for (const name of ["since", "until"]) {
    const value = instant(form[name].value);
    if (value) params.set(name, value);
  }
  const limit = new URLSearchParams(location.search).get("limit");
  if (limit) params.set("limit", limit);
  return params;
}

const pageUrl = (params) => (params.toString() ? `/admin/audit?${params}` : "/admin/audit");

function markInvalid(details) {
  const names = new Set(details.map((detail) => detail.field));
  for (const name of FIELDS) {
    if (names.has(name)) form[name].setAttribute("aria-invalid", "true");
    else form[name].removeAttribute("aria-invalid");
  }
}

function render(params, page) {
  $("#audit-table tbody").replaceChildren(...page.items.map((entry) => auditRow(entry, { withTarget: true })));
  const paged = params.has("before_id");
  $("#audit-summary").textContent = t(paged ? "auditLog.countOlder" : "auditLog.count", { n: page.items.length });
  const empty = $("#audit-empty");
  empty.hidden = page.items.length > 0;
  empty.textContent = t(params.toString() ? "auditLog.noMatch" : "auditLog.none");
  showPaging({
    params,
    key: "before_id",
    next: page.next_before_id,
    newest: $("#audit-newest"),
    older: $("#audit-older"),
    pageUrl,
  });
}

async function load() {
  const params = new URLSearchParams(location.search);
  const mine = ++loads;
  try {
    const page = await api.get(`/scheduler/audit?${params}`);
    if (mine !== loads) return; // a later filter's answer is (or will be) shown instead
    hideError(errorBox);
    markInvalid([]);
    render(params, page);
    $("#audit-table").dataset.query = params.toString();
  } catch (err) {
    if (mine !== loads) return;
    showError(errorBox, err);
    markInvalid(err.details || []);
    $("#audit-table tbody").replaceChildren();
    $("#audit-summary").textContent = "";
    $("#audit-older").hidden = true;
  }
}

async function suggest() {
  const [users, jobs] = await Promise.all([
    api.get("/auth/users").catch(() => []),
    api.get("/scheduler/jobs").catch(() => []), // suggestions only: any job id is accepted
  ]);
  $("#usernames").replaceChildren(...users.map((user) => el("option", { value: user.username })));
  $("#job-ids").replaceChildren(...jobs.map((job) => el("option", { value: job.id }, job.name)));
}

await startPage();
wireFilterPage({
  form,
  links: [$("#audit-newest"), $("#audit-older"), $("#clear-filters")],
  fillForm,
  formQuery,
  pageUrl,
  load,
});
suggest();
await load();
