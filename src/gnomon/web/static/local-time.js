// The time filters' datetime-local fields (the browser's wall-clock time) and the API's
// instants (ISO 8601 with an offset), each way.

/** A datetime-local value (the browser's wall-clock time) from an ISO instant, or "". */
export function localValue(iso) {
  const when = new Date(iso);
  if (!iso || Number.isNaN(when.getTime())) return "";
  const shifted = new Date(when.getTime() - when.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 19);
}

/** The instant a datetime-local value means in the browser's timezone, as ISO with Z. */
export function instant(local) {
  const when = new Date(local);
  return local && !Number.isNaN(when.getTime()) ? when.toISOString() : "";
}
