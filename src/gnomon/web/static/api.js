// The console's one door to the JSON API: same-origin cookies, the X-CSRFToken header on
// writes, the chosen language in Accept-Language, and every failure as an ApiError carrying
// the API's error envelope (message_code, localized message, per-field details).
import { getLanguage, t } from "./i18n.js";

const BASE = "/api/v1";
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const STALE_CSRF = new Set(["CSRF_MISSING", "CSRF_INVALID", "CSRF_EXPIRED"]);

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || t("error.http", { status }));
    this.name = "ApiError";
    this.status = status;
    this.code = body?.message_code || "HTTP_ERROR";
    this.details = Array.isArray(body?.details) ? body.details : [];
    this.body = body;
  }
}

export function acceptLanguage() {
  return getLanguage() === "zh" ? "zh-CN,zh;q=0.9" : "en";
}

async function send(method, path, body) {
  const headers = { Accept: "application/json", "Accept-Language": acceptLanguage() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (WRITES.has(method)) headers["X-CSRFToken"] = await csrf();
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { message_code: "NETWORK_ERROR", message: t("error.network") });
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok || !payload || payload.success !== true) {
    throw new ApiError(response.status, payload);
  }
  return payload;
}

/** The session's CSRF token, fetched once per page (the login answer brings a fresh one). */
export async function csrf() {
  if (!csrfToken) {
    const payload = await send("GET", "/auth/csrf-token");
    csrfToken = payload.data.csrf_token;
  }
  return csrfToken;
}

export function setCsrfToken(token) {
  csrfToken = token;
}

export function loginUrl() {
  const next = location.pathname + location.search;
  return "/login?next=" + encodeURIComponent(next);
}

/** {data, message} of a successful call; throws ApiError. A 401 sends the browser to login. */
export async function request(method, path, body) {
  try {
    return await send(method, path, body);
  } catch (err) {
    if (err instanceof ApiError && WRITES.has(method) && STALE_CSRF.has(err.code)) {
      csrfToken = null; // the session changed under us: one retry with a fresh token
      return send(method, path, body);
    }
    if (err instanceof ApiError && err.status === 401 && err.code === "AUTHENTICATION_REQUIRED"
        && location.pathname !== "/login") {
      location.assign(loginUrl());
    }
    throw err;
  }
}

export const get = async (path) => (await request("GET", path)).data;
export const post = (path, body) => request("POST", path, body);
export const put = (path, body) => request("PUT", path, body);

export const jobPath = (jobId) => `/scheduler/jobs/${encodeURIComponent(jobId)}`;
export const runPath = (runId) => `/scheduler/runs/${encodeURIComponent(runId)}`;
