# ruff: noqa: E501
"""The /api/v1/docs page: a small self-contained viewer of openapi.json, with "try it" forms.

Self-contained because gnomon often runs on machines without Internet access, where a page
loading Swagger UI from a CDN would stay blank. The page, its stylesheet and its script are
three answers of this server, so the page's policy allows no inline code; the script builds
every node with the DOM and puts text in with textContent, never parsing HTML.
"""

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gnomon API</title>
<link rel="stylesheet" href="docs.css">
<script src="docs.js" defer></script>
</head>
<body><h1>gnomon API</h1>
<p>The OpenAPI document: <a href="openapi.json">openapi.json</a>. Requests below use your
console session; writes send the CSRF token fetched from <code>/api/v1/auth/csrf-token</code>.</p>
<div id="ops">Loading…</div>
</body></html>
"""

DOCS_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;color:#222}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ccc}
details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold}.GET{color:#06c}.POST{color:#080}
.PUT{color:#a60}.DELETE{color:#c00}textarea{width:100%;min-height:6rem;font:13px monospace}
input{font:13px monospace}button{margin:.3rem 0}
"""

DOCS_SCRIPT = """"use strict";
// The operations of openapi.json, each with a form that sends it with the console session.
let doc;

/** An element with attributes and children; strings become text nodes, never HTML. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function resolve(schema, depth) {
  if (!schema || depth > 6) return schema;
  if (schema.$ref) return resolve(doc.components.schemas[schema.$ref.split("/").pop()], depth + 1);
  const out = Array.isArray(schema) ? [] : {};
  for (const [k, v] of Object.entries(schema)) out[k] = typeof v === "object" ? resolve(v, depth + 1) : v;
  return out;
}

function shown(schema) {
  return JSON.stringify(resolve(schema, 0), null, 1);
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
  const m = method.toUpperCase();
  const form = el("form");
  for (const p of op.parameters || [])
    form.append(el("label", {}, `${p.name} (${p.in}) `, el("input", {name: p.name, "data-in": p.in})), el("br"));
  if (op.requestBody)
    form.append(el("p", {}, "Body"), el("pre", {}, shown(op.requestBody.content["application/json"].schema)), el("textarea"));
  form.append(el("button", {}, "Send"), el("pre", {class: "out"}));
  form.addEventListener("submit", event => {
    event.preventDefault();
    send(form, m, path);
  });
  const responses = Object.entries(op.responses).map(([code, r]) => {
    const c = r.content && r.content["application/json"];
    const item = el("details", {}, el("summary", {}, `${code} ${r.description || ""}`));
    if (c) item.append(el("pre", {}, shown(c.schema)));
    return item;
  });
  const summary = el("summary", {}, el("span", {class: "m " + m}, m), " ", el("code", {}, path), ` — ${op.summary || ""}`);
  return el("details", {"data-operation": `${m} ${path}`}, summary, el("p", {}, op.description || ""), form,
    el("p", {}, "Responses"), ...responses);
}

fetch("openapi.json").then(r => r.json()).then(d => {
  doc = d;
  const groups = {};
  for (const [path, ops] of Object.entries(d.paths))
    for (const [method, op] of Object.entries(ops))
      (groups[(op.tags || ["other"])[0]] ||= []).push(operation(path, method, op));
  document.getElementById("ops").replaceChildren(
    ...Object.entries(groups).flatMap(([tag, items]) => [el("h2", {}, tag), ...items]));
});
"""
