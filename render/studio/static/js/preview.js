// The camera preview (POST /api/preview: frame N drawn from the reference scene through the composed camera),
// played and scrubbed; with a song, the song plays along and leads the clock, so picture and sound stay together.
import { call, url } from "./api.js";

export class Player {
  constructor(els, onFrame) {
    this.els = els; // {img, scrub, play, label, audio, status}
    this.onFrame = onFrame;
    this.frames = [];
    this.fps = 12;
    this.offset = 0;
    this.frame = 0;
    this.playing = false;
    this.request = 0;
    els.scrub.addEventListener("input", () => { this.pause(); this.show(Number(els.scrub.value)); });
    els.play.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
  }

  // Draw the preview of a config (overrides); an older request's answer is dropped.
  async load(body) {
    const mine = ++this.request;
    this.els.status.textContent = "drawing the camera preview...";
    const started = performance.now();
    const out = await call("POST", "/api/preview", { ...body, width: 512, start: 0, count: 600 });
    if (mine !== this.request) return;
    this.fps = out.fps;
    this.frames = Array.from({ length: out.count }, (_, n) => {
      const image = new Image();
      image.src = url(out.frames.replace("{n}", String(out.start + n).padStart(5, "0")));
      return image;
    });
    this.els.scrub.max = String(Math.max(out.count - 1, 0));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    this.els.status.textContent = `${out.count} frames at ${out.width}x${out.height} of ${out.n_frames} ` +
      `(${out.picture}), ready in ${seconds} s`;
    this.show(Math.min(this.frame, out.count - 1));
  }

  setSong(audio) {
    this.offset = audio ? audio.offset : 0;
    const src = audio && audio.url ? url(audio.url) : "";
    if (this.els.audio.getAttribute("src") !== src) {
      if (src) this.els.audio.src = src; else this.els.audio.removeAttribute("src");
    }
  }

  show(n) {
    if (!this.frames.length) return;
    this.frame = Math.max(0, Math.min(this.frames.length - 1, n));
    this.els.img.src = this.frames[this.frame].src;
    this.els.scrub.value = String(this.frame);
    this.els.label.textContent = `frame ${this.frame} · ${(this.frame / this.fps).toFixed(2)} s`;
    this.onFrame(this.frame);
  }

  hasSong() { return Boolean(this.els.audio.getAttribute("src")); }

  play() {
    if (!this.frames.length) return;
    if (this.frame >= this.frames.length - 1) this.frame = 0;
    this.playing = true;
    this.els.play.textContent = "pause";
    this.startFrame = this.frame;
    this.startTime = performance.now();
    if (this.hasSong()) {
      this.els.audio.currentTime = this.offset + this.frame / this.fps;
      this.els.audio.play().catch(() => {});
    }
    const tick = () => {
      if (!this.playing) return;
      const seconds = this.hasSong() && !this.els.audio.paused
        ? this.els.audio.currentTime - this.offset
        : this.startFrame / this.fps + (performance.now() - this.startTime) / 1000;
      const n = Math.floor(seconds * this.fps + 1e-6);
      if (n >= this.frames.length) { this.show(this.frames.length - 1); this.pause(); return; }
      if (n !== this.frame) this.show(n);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause() {
    this.playing = false;
    this.els.play.textContent = "play";
    if (this.hasSong()) this.els.audio.pause();
  }
}
