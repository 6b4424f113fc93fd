// A page of filtered, paged rows kept in the URL (runs, audit): the form, the paging links and
// the browser's Back and Forward all move the page without reloading it: the address, the form
// and the table follow.

/** Wire `form` and the paging `links` (newest, older, clear) of a filtered page. `fillForm`
 * sets the form from URL parameters, `formQuery` reads them from it, `pageUrl` makes the URL of
 * some parameters and `load` shows the rows of the current URL. Returns `go(url, { step })`. */
export function wireFilterPage({ form, links, fillForm, formQuery, pageUrl, load }) {
  // Pages are steps in the history (Back returns to the newer page); a change of filters
  // replaces the step it was made on.
  function go(url, { step = false } = {}) {
    if (url === location.pathname + location.search) return;
    if (step) history.pushState(null, "", url);
    else history.replaceState(null, "", url);
    fillForm(new URLSearchParams(location.search));
    load();
  }

  fillForm(new URLSearchParams(location.search));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(pageUrl(formQuery()));
  });
  // Choices apply at once, text and times once entered (Enter, or leaving the field).
  form.addEventListener("change", () => go(pageUrl(formQuery())));
  for (const link of links) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      go(link.getAttribute("href"), { step: link.id !== "clear-filters" });
    });
  }
  window.addEventListener("popstate", () => {
    fillForm(new URLSearchParams(location.search));
    load();
  });
  return go;
}

/** Point the paging links at the newest page and at the next older one: `key` is the URL
 * parameter that names a page (before_id, cursor), `next` its value for the older page (none:
 * this is the oldest). The newest link shows only on an older page. */
export function showPaging({ params, key, next, newest, older, pageUrl }) {
  const first = new URLSearchParams(params);
  first.delete(key);
  newest.href = pageUrl(first);
  newest.hidden = !params.has(key);
  older.hidden = !next;
  if (next) {
    const after = new URLSearchParams(params);
    after.set(key, String(next));
    older.href = pageUrl(after);
  }
}
