// Queue and runs: every job with its live progress, cancel and resume; the chosen job's events (Server-Sent
// Events: frame i/N, sampler step, ETA, the frame forming from progress.png), its frames as a filmstrip, "branch
// from here" with the page's edited settings, and its report.html and video.
import { call, url } from "./api.js";

const ENDS = ["completed", "stopped", "failed"];

export class Runs {
  constructor(els, editedOverrides, showProblem) {
    this.els = els; // {list, detail, progress, image, strip, branch, links, video, message}
    this.editedOverrides = editedOverrides;
    this.showProblem = showProblem;
    this.jobs = [];
    this.chosen = null;
    this.source = null;
    this.branchFrame = null;
    els.branch.addEventListener("click", () => this.branch());
    this.refresh();
    setInterval(() => this.refresh(), 1500);
  }

  async submit(body) {
    try {
      const job = await call("POST", "/api/jobs", body);
      this.showProblem("");
      await this.refresh();
      this.choose(job.id);
      return job;
    } catch (error) {
      this.showProblem(error.message);
      return null;
    }
  }

  async refresh() {
    try { this.jobs = await call("GET", "/api/jobs"); } catch (error) { return; }
    this.els.list.replaceChildren(...this.jobs.slice().reverse().map((job) => this.row(job)));
    const chosen = this.jobs.find((j) => j.id === this.chosen);
    if (chosen) this.describe(chosen);
  }

  row(job) {
    const li = document.createElement("li");
    li.className = `job ${job.state}${job.id === this.chosen ? " chosen" : ""}`;
    li.dataset.id = job.id;
    const done = job.n_frames ? `${job.frames_done}/${job.n_frames}` : `${job.frames_done}`;
    li.innerHTML = `<span class="state"></span> <b></b> <span class="count"></span> `;
    li.querySelector(".state").textContent = job.state;
    li.querySelector("b").textContent = job.id;
    li.querySelector(".count").textContent = `frame ${done}${job.eta_s ? ` · ETA ${Math.round(job.eta_s)} s` : ""}`;
    li.addEventListener("click", () => this.choose(job.id));
    for (const [label, verb] of [["cancel", "cancel"], ["resume", "resume"]]) {
      if ((verb === "cancel") === ENDS.includes(job.state)) continue;
      const b = document.createElement("button");
      b.textContent = label;
      b.className = verb;
      b.addEventListener("click", async (e) => {
        e.stopPropagation();
        try { await call("POST", `/api/jobs/${job.id}/${verb}`); } catch (error) { this.showProblem(error.message); }
        this.refresh();
      });
      li.append(b);
    }
    return li;
  }

  choose(id) {
    if (this.chosen === id && this.source) return;
    this.chosen = id;
    this.branchFrame = null;
    if (this.source) this.source.close();
    this.els.image.removeAttribute("src");
    this.els.video.removeAttribute("src");
    this.els.video.hidden = true;
    this.follow(id);
    this.refresh();
    this.filmstrip();
  }

  // The job's events after the first ``after``; an end that is not the job's last (a branched or resumed run
  // goes on in the same events.jsonl) follows on from there.
  follow(id, after = 0) {
    const source = new EventSource(url(`/api/jobs/${id}/events?after=${after}`));
    this.source = source;
    let seen = after;
    const on = (kind, handle) => source.addEventListener(kind, (e) => {
      seen = Number(e.lastEventId) || seen + 1;
      if (this.source === source) handle(JSON.parse(e.data));
    });
    on("run_started", (event) => { this.started = event; this.last = this.step = null; this.progress(); });
    on("frame_done", (event) => { this.last = event; this.progress(); this.filmstrip(); });
    on("step", (event) => { this.step = event; this.progress(); });
    on("progress_image", (event) => {
      const name = String(event.path).split("/").pop();
      this.els.image.src = url(`/api/jobs/${id}/files/${name}?t=${event.time}`);
    });
    for (const end of ENDS) {
      on(end, () => { source.close(); this.settle(id, source, seen); });
    }
  }

  // After an end event: the job's end once its process has exited, or, when more events follow (a branch or a
  // resume queued since), the stream again from there.
  async settle(id, source, seen) {
    for (;;) {
      if (this.source !== source) return;
      const job = await call("GET", `/api/jobs/${id}`).catch(() => null);
      if (job && ENDS.includes(job.state)) { this.source = null; this.finished(id); return; }
      const more = await fetch(url(`/api/jobs/${id}/events?after=${seen}&live=false`)).then((r) => r.text());
      if (this.source !== source) return;
      if (more.includes("event: ") || (job && job.state === "queued")) { this.follow(id, seen); return; }
      await new Promise((done) => setTimeout(done, 400));
    }
  }

  progress() {
    const s = this.started, last = this.last, step = this.step;
    const parts = [];
    if (last && s) parts.push(`frame ${last.frame + 1}/${s.n_frames}`);
    else if (s) parts.push(`started at frame ${s.start_frame ?? 0}`);
    if (step) parts.push(`step ${step.step + 1}/${step.n_steps}`);
    if (last && last.eta_s !== undefined && last.eta_s !== null) parts.push(`ETA ${Math.round(last.eta_s)} s`);
    this.els.progress.textContent = parts.join(" · ");
  }

  describe(job) {
    this.els.detail.dataset.state = job.state;
    this.els.message.textContent = job.error ? (job.error.message || JSON.stringify(job.error.problems)) : "";
  }

  async files(id) {
    try { return await call("GET", `/api/jobs/${id}/files`); } catch (error) { return []; }
  }

  async filmstrip() {
    const id = this.chosen, files = await this.files(id);
    if (id !== this.chosen) return;
    const frames = files.map((f) => f.path).filter((p) => /^frames\/\d+\.png$/.test(p)).sort();
    if (frames.length === this.els.strip.children.length && !this.stale) return;
    this.stale = false;
    this.els.strip.replaceChildren(...frames.map((path) => {
      const img = document.createElement("img");
      img.dataset.frame = String(Number(path.match(/(\d+)\.png$/)[1]));
      img.src = url(`/api/jobs/${id}/files/${path}?n=${files.find((f) => f.path === path).bytes}`);
      img.title = `frame ${img.dataset.frame}: click, then "branch from here"`;
      img.addEventListener("click", () => this.pick(Number(img.dataset.frame)));
      if (Number(img.dataset.frame) === this.branchFrame) img.classList.add("picked");
      return img;
    }));
    this.links(id, files);
  }

  pick(frame) {
    this.branchFrame = frame;
    for (const img of this.els.strip.children) img.classList.toggle("picked", Number(img.dataset.frame) === frame);
    this.els.branch.disabled = false;
    this.els.branch.textContent = `branch from frame ${frame}`;
  }

  links(id, files) {
    const out = [];
    for (const f of files) {
      if (f.path === "report.html" || (/\.mp4$/.test(f.path) && !f.path.includes("/"))) {
        const a = document.createElement("a");
        a.href = url(`/api/jobs/${id}/files/${f.path}`);
        a.target = "_blank";
        a.textContent = f.path;
        out.push(a);
      }
    }
    this.els.links.replaceChildren(...out);
  }

  async finished(id) {
    await this.refresh();
    const files = await this.files(id);
    this.stale = true;
    await this.filmstrip();
    const video = files.map((f) => f.path).find((p) => /\.mp4$/.test(p) && !p.includes("/"));
    if (video && id === this.chosen) {
      this.els.video.src = url(`/api/jobs/${id}/files/${video}?t=${Date.now()}`);
      this.els.video.hidden = false;
    }
  }

  async branch() {
    if (this.chosen === null || this.branchFrame === null) return;
    const id = this.chosen;
    try {
      await call("POST", `/api/jobs/${id}/branch`, { frame: this.branchFrame, overrides: this.editedOverrides() });
      this.showProblem("");
    } catch (error) {
      this.showProblem(error.message);
      return;
    }
    this.chosen = null;
    this.last = this.step = null;
    this.choose(id);
  }
}
