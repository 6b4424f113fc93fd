// Where the login page sends the browser next: a path on this site, never another origin.

// One "/" then anything but a second "/" or "\"; no control character or backslash anywhere.
// Browsers drop tabs and newlines from a URL before reading it, so "/\t/evil.example" would
// become "//evil.example", another host; "\" counts as "/" in http URLs.
const SAME_SITE_PATH = /^\/(?![/\\])[^\x00-\x1f\x7f\\]*$/;

/** `next` when it is a path on this site (normalised as the browser reads it), else "/". */
export function safeNextPath(next, origin = location.origin) {
  if (typeof next !== "string" || !SAME_SITE_PATH.test(next)) return "/";
  let url;
  try {
    url = new URL(next, origin);
  } catch {
    return "/";
  }
  // Checked once more as the browser will read it, whatever the pattern above missed.
  return url.origin === origin ? url.pathname + url.search + url.hash : "/";
}

/** The page's `?next=` parameter as a safe path. */
export function nextPath() {
  return safeNextPath(new URLSearchParams(location.search).get("next") || "/");
}
