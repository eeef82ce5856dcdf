// Sweeps: values for up to three settings, the grid submitted as jobs (POST /api/sweeps), shown side by side with
// the gallery's measures and ranking as the jobs finish.
import { call, url } from "./api.js";

export class Sweeps {
  constructor(els, baseBody, showProblem) {
    this.els = els; // {axes: [[setting input, values input] x3], submit, table, summary}
    this.baseBody = baseBody;
    this.showProblem = showProblem;
    this.sweep = null;
    els.submit.addEventListener("click", () => this.submit());
    setInterval(() => this.refresh(), 2000);
  }

  axes() {
    const axes = {};
    for (const [setting, values] of this.els.axes) {
      const name = setting.value.trim();
      if (!name) continue;
      axes[name] = values.value.split("|").map((v) => v.trim()).filter((v) => v !== "");
    }
    return axes;
  }

  async submit() {
    try {
      this.sweep = await call("POST", "/api/sweeps", { ...this.baseBody(), axes: this.axes() });
      this.showProblem("");
      this.draw();
    } catch (error) {
      this.showProblem(error.message);
    }
  }

  async refresh() {
    const ended = (j) => ["completed", "failed", "stopped", null].includes(j.state);
    if (!this.sweep || this.sweep.jobs.every(ended)) return;
    try { this.sweep = await call("GET", `/api/sweeps/${this.sweep.id}`); } catch (error) { return; }
    this.draw();
  }

  draw() {
    const s = this.sweep, names = Object.keys(s.axes);
    this.els.summary.textContent = `sweep ${s.id}: ${s.jobs.length} jobs${s.ranking ? ` · ranked by ${s.ranking}` : ""}`;
    const head = [...names, "job", "state", "rank", ...s.metrics, "picture", "files"];
    const rows = s.jobs.map((job) => [
      ...names.map((n) => text(job.values[n])),
      text(job.id),
      text(`${job.state ?? "deleted"} ${job.frames_done}/${job.n_frames ?? "?"}`),
      text(job.rank ?? ""),
      ...s.metrics.map((m) => text(job.metrics[m] === null || job.metrics[m] === undefined
        ? "" : (+job.metrics[m]).toPrecision(3))),
      job.image ? image(job.image) : text(""),
      links(job),
    ]);
    const table = document.createElement("table");
    const tr = document.createElement("tr");
    tr.append(...head.map((h) => { const th = document.createElement("th"); th.textContent = h; return th; }));
    table.append(tr);
    for (const cells of rows) {
      const row = document.createElement("tr");
      row.append(...cells.map((c) => { const td = document.createElement("td"); td.append(c); return td; }));
      table.append(row);
    }
    this.els.table.replaceChildren(table);
  }
}

function text(value) { return document.createTextNode(String(value)); }

function image(path) {
  const img = document.createElement("img");
  img.src = url(path);
  return img;
}

function links(job) {
  const span = document.createElement("span");
  for (const [label, path] of [["report", job.report], ["video", job.video]]) {
    if (!path) continue;
    const a = document.createElement("a");
    a.href = url(path);
    a.target = "_blank";
    a.textContent = label;
    span.append(a, " ");
  }
  return span;
}
