// The studio's API from the page: JSON calls with the token (when the page was opened with ?token=), and URLs
// for <img>, <video> and EventSource (which cannot send headers) with the token in the query.
const TOKEN = new URLSearchParams(location.search).get("token");

export class Refused extends Error {
  constructor(status, body) {
    super(describe(body) || `HTTP ${status}`);
    this.status = status;
    this.problems = (body && body.problems) || [];
  }
}

function describe(body) {
  if (!body) return "";
  if (body.problems) return body.problems.map((p) => `${p.setting ? p.setting + ": " : ""}${p.problem}`).join("; ");
  return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await answer.text();
  const data = text ? JSON.parse(text) : null;
  if (!answer.ok) throw new Refused(answer.status, data);
  return data;
}

export function url(path) {
  if (!TOKEN) return path;
  return `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(TOKEN)}`;
}
