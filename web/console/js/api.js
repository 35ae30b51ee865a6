// The server, as the console sees it: JSON calls to /api/v1 and
// /console/api with the session cookie and its CSRF token, errors as
// ApiError, and the inbox event stream.

let csrf = "";

export function setCSRF(token) { csrf = token || ""; }

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

// api calls path: "/customers" means /api/v1/customers; paths starting
// with /console/ are used as they are.
export async function api(method, path, body) {
  const url = path.startsWith("/console/") ? path : "/api/v1" + path;
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let r;
  try {
    r = await fetch(url, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, "network", e.message);
  }
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const err = (data && data.error) || {};
    const e = new ApiError(r.status, err.code || "http_" + r.status, err.message || r.statusText, err.field);
    e.retryAfter = +r.headers.get("Retry-After") || 0;
    if (r.status === 401 && !path.startsWith("/console/api/sign-in")) {
      window.dispatchEvent(new CustomEvent("rapport:signed-out", { detail: e }));
    }
    throw e;
  }
  return data;
}

// upload sends a file as the body of a POST (an import), reporting the
// share sent so far to progress(0..1): fetch cannot tell upload progress,
// XMLHttpRequest can. Resolves with the JSON answer.
export function upload(path, file, progress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("POST", "/api/v1" + path);
    x.setRequestHeader("Content-Type", "text/csv");
    x.setRequestHeader("Accept", "application/json");
    if (csrf) x.setRequestHeader("X-CSRF-Token", csrf);
    x.upload.onprogress = (e) => { if (e.lengthComputable && progress) progress(e.loaded / e.total); };
    x.onerror = () => reject(new ApiError(0, "network", "network error"));
    x.onload = () => {
      let data = null;
      try { data = JSON.parse(x.responseText); } catch (e) { /* not JSON */ }
      if (x.status >= 200 && x.status < 300) return resolve(data);
      const err = (data && data.error) || {};
      const e = new ApiError(x.status, err.code || "http_" + x.status, err.message || x.statusText, err.field);
      if (x.status === 401) window.dispatchEvent(new CustomEvent("rapport:signed-out", { detail: e }));
      reject(e);
    };
    x.send(file);
  });
}

// query builds "?a=1&b=2" from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, v === true ? "1" : v);
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

// listAll follows next_cursor to the end (small lists only: staff).
export async function listAll(path, max = 2000) {
  const out = [];
  let cursor = "";
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", path + sep + "limit=500" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}

// stream opens the inbox event stream; handlers by event name
// (conversation, message, signed_out, open, error). Returns close().
export function stream(params, handlers) {
  const es = new EventSource("/api/v1/inbox/events" + query(params), { withCredentials: true });
  for (const [name, fn] of Object.entries(handlers)) {
    if (name === "open") es.onopen = fn;
    else if (name === "error") es.onerror = fn;
    else es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  }
  return () => es.close();
}
