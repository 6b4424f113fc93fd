# ruff: noqa: E501
"""The /api/v1/docs page: a small self-contained viewer of openapi.json, with "try it" forms.

Self-contained because gnomon often runs on machines without Internet access, where a page
loading Swagger UI from a CDN would stay blank.
"""

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gnomon API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccc}
details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold}.GET{color:#06c}.POST{color:#080}
.PUT{color:#a60}.DELETE{color:#c00}textarea{width:100%;min-height:6rem;font:13px monospace}
input{font:13px monospace}button{margin:.3rem 0}
</style></head>
<body><h1>gnomon API</h1>
<p>The OpenAPI document: <a href="openapi.json">openapi.json</a>. Requests below use your
console session; writes send the CSRF token fetched from <code>/api/v1/auth/csrf-token</code>.</p>
<div id="ops">Loading…</div>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
let doc;
function resolve(schema, depth) {
  if (!schema || depth > 6) return schema;
  if (schema.$ref) return resolve(doc.components.schemas[schema.$ref.split("/").pop()], depth + 1);
  const out = Array.isArray(schema) ? [] : {};
  for (const [k, v] of Object.entries(schema)) out[k] = typeof v === "object" ? resolve(v, depth + 1) : v;
  return out;
}
async function csrf() {
  const r = await fetch("/api/v1/auth/csrf-token", {credentials: "same-origin"});
  return (await r.json()).data.csrf_token;
}
async function send(form, method, path) {
  let url = path;
  for (const input of form.querySelectorAll("input[data-in=path]"))
    url = url.replace("{" + input.name + "}", encodeURIComponent(input.value));
  const query = new URLSearchParams();
  for (const input of form.querySelectorAll("input[data-in=query]"))
    if (input.value) query.set(input.name, input.value);
  if ([...query].length) url += "?" + query;
  const headers = {"Content-Type": "application/json"};
  if (method !== "GET") headers["X-CSRFToken"] = await csrf();
  const body = form.querySelector("textarea");
  const r = await fetch(url, {method, headers, credentials: "same-origin",
    body: method === "GET" || !body || !body.value.trim() ? undefined : body.value});
  let text = await r.text();
  try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON: as is */ }
  form.querySelector("pre.out").textContent = r.status + "\\n" + text;
}
function operation(path, method, op) {
  const params = (op.parameters || []).map(p =>
    `<label>${esc(p.name)} (${p.in}) <input name="${esc(p.name)}" data-in="${p.in}"></label><br>`).join("");
  const body = op.requestBody ? `<p>Body</p><pre>${esc(JSON.stringify(resolve(
    op.requestBody.content["application/json"].schema, 0), null, 1))}</pre><textarea></textarea>` : "";
  const responses = Object.entries(op.responses).map(([code, r]) => {
    const c = r.content && r.content["application/json"];
    return `<details><summary>${esc(code)} ${esc(r.description || "")}</summary>` +
      (c ? `<pre>${esc(JSON.stringify(resolve(c.schema, 0), null, 1))}</pre>` : "") + "</details>";
  }).join("");
  const m = method.toUpperCase();
  return `<details><summary><span class="m ${m}">${m}</span> <code>${esc(path)}</code> — ` +
    `${esc(op.summary || "")}</summary><p>${esc(op.description || "")}</p>` +
    `<form onsubmit="send(this,'${m}','${esc(path)}');return false">${params}${body}` +
    `<button>Send</button><pre class="out"></pre></form><p>Responses</p>${responses}</details>`;
}
fetch("openapi.json").then(r => r.json()).then(d => {
  doc = d;
  const groups = {};
  for (const [path, ops] of Object.entries(d.paths))
    for (const [method, op] of Object.entries(ops))
      (groups[(op.tags || ["other"])[0]] ||= []).push(operation(path, method, op));
  document.getElementById("ops").innerHTML = Object.entries(groups)
    .map(([tag, items]) => `<h2>${esc(tag)}</h2>` + items.join("")).join("");
});
</script></body></html>
"""
