// Every call of the page goes through the PixCrawler API (/api/v1) with the caller's own
// credential, kept for this browser tab only (sessionStorage).

const KEY = "pixcrawler.review.credential";
const BASE = "/api/v1/";

export function credential() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function signIn(kind, secret) {
  sessionStorage.setItem(KEY, JSON.stringify({ kind, secret }));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

function authHeaders() {
  const c = credential();
  if (!c) return {};
  return c.kind === "key" ? { "X-API-Key": c.secret } : { Authorization: `Bearer ${c.secret}` };
}

/** An error answer of the API: its status and the documented body's message. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function query(params = {}) {
  const kept = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "");
  return kept.length ? "?" + new URLSearchParams(kept).toString() : "";
}

export async function call(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("pixcrawler:unauthorized"));
    throw new ApiError(response.status, data);
  }
  return data;
}

export const get = (path, params) => call("GET", path + query(params));
export const post = (path, body) => call("POST", path, body);
export const patch = (path, body) => call("PATCH", path, body);

export const enc = encodeURIComponent;

/** A thumbnail fetched with the credential, as an object URL for an <img> (revoke it later). */
export async function thumbnailUrl(jobId, imageId) {
  const response = await fetch(`${BASE}jobs/${enc(jobId)}/images/${enc(imageId)}/thumbnail`, {
    headers: authHeaders(),
  });
  if (!response.ok) throw new ApiError(response.status, null);
  return URL.createObjectURL(await response.blob());
}
