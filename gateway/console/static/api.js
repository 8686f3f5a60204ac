// The operator API with the operator's token. The token lives in sessionStorage only (gone with
// the tab), travels in the Authorization header only (never in a URL), and is never displayed.

const TOKEN = "gateway.console.token";
const PREFIX = "/api/v1/operator";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN, value);
}

export function forget() {
  sessionStorage.removeItem(TOKEN);
}

async function call(path, { method = "GET", withToken = token() } = {}) {
  const response = await fetch(PREFIX + path, {
    method,
    headers: { Authorization: `Bearer ${withToken}`, Accept: "application/json" },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) {
    // Whatever page asked: the session is over; the shell listens and shows the login page.
    window.dispatchEvent(new CustomEvent("gateway:unauthorized"));
    throw new ApiError(401, "auth.unauthorized", "401");
  }
  if (!response.ok) {
    let code = `http.${response.status}`;
    let message = `HTTP ${response.status}`;
    try {
      const body = await response.json();
      code = body.code || code;
      message = body.message || message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

export async function get(path) {
  return (await call(path)).json();
}

export async function post(path) {
  return (await call(path, { method: "POST" })).json();
}

/** Checks a token without keeping it: true if the gateway accepts it. */
export async function accepts(candidate) {
  const response = await fetch(`${PREFIX}/whoami`, {
    headers: { Authorization: `Bearer ${candidate}` },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) return null;
  if (!response.ok) throw new ApiError(response.status, `http.${response.status}`, `HTTP ${response.status}`);
  return response.json();
}

/** A plain link cannot carry the header: fetch with it and save the bytes through a blob URL. */
export async function download(path, filename) {
  const blob = await (await call(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
