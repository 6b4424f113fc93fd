// A job's audit trail on its page (admins only): who changed what and when, before and after,
// newest first, ten at a time.
import * as api from "./api.js";
import { $ } from "./dom.js";
import { auditRow } from "./audit-format.js";

const PAGE = 10;

export function createJobAudit(jobId) {
  let entries = [];
  let nextBefore = null;
  let drawn = "";

  function render() {
    const snapshot = JSON.stringify(entries);
    if (snapshot === drawn) return;
    drawn = snapshot;
    $("#job-audit-table tbody").replaceChildren(...entries.map((entry) => auditRow(entry)));
    $("#job-audit-table").hidden = entries.length === 0;
    $("#job-audit-empty").hidden = entries.length > 0;
    $("#job-audit-more").hidden = !nextBefore;
  }

  async function page(before, limit) {
    const query = new URLSearchParams({ job_id: jobId, limit: String(limit) });
    if (before) query.set("before_id", String(before));
    return api.get(`/scheduler/audit?${query}`);
  }

  /** The newest entries again, as many as are shown (at least a page). */
  async function load() {
    const found = await page(null, Math.min(500, Math.max(PAGE, entries.length)));
    entries = found.items;
    nextBefore = found.next_before_id;
    render();
  }

  async function more() {
    const found = await page(nextBefore, PAGE);
    entries = [...entries, ...found.items];
    nextBefore = found.next_before_id;
    render();
  }

  $("#job-audit-more").addEventListener("click", more);
  return { load };
}
