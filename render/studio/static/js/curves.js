// One schedule's curve over the frames, with its keys as handles: drag a key (left/right: its frame, up/down: its
// value when it is a number), double-click the background to add a key, double-click or right-click a key to
// remove it, click a key to choose the interpolation of the segment it starts.
import { interpolate, keyFrame, numberOf, parseSchedule, serialize } from "./schedule.js";

const PAD = { left: 44, right: 8, top: 8, bottom: 16 };
const HIT = 7;

export class CurveEditor {
  // ctx(): {nFrames, fps, beats, beatClock, snap, playhead}; onEdit(text) when a drag or a click changed the text.
  constructor(canvas, ctx, onEdit, onSelect) {
    this.canvas = canvas;
    this.ctx = ctx;
    this.onEdit = onEdit;
    this.onSelect = onSelect;
    this.model = { keyed: false, text: "" };
    this.values = [];
    this.selected = null;
    this.drag = null;
    canvas.addEventListener("mousedown", (e) => this.down(e));
    window.addEventListener("mousemove", (e) => this.move(e));
    window.addEventListener("mouseup", () => this.up());
    canvas.addEventListener("dblclick", (e) => this.doubleClick(e));
    canvas.addEventListener("contextmenu", (e) => { e.preventDefault(); this.remove(this.hit(e)); });
  }

  setText(text) { this.model = parseSchedule(text); if (!this.drag) this.draw(); }

  setValues(values) { this.values = values.slice(); this.draw(); }

  // Placed keys: {index, frame, value, numeric}; a key whose frame cannot be placed is left out.
  points() {
    if (!this.model.keyed) return [];
    const c = this.ctx();
    return this.model.keys.map((k, index) => {
      const frame = keyFrame(k.key, c);
      if (frame === null || !isFinite(frame)) return null;
      const number = numberOf(k.value);
      const near = Math.max(0, Math.min(this.values.length - 1, Math.round(frame)));
      return { index, frame, value: number ?? this.values[near] ?? 0, numeric: number !== null, interp: k.interp };
    }).filter(Boolean);
  }

  range(values) {
    let lo = Math.min(...values), hi = Math.max(...values);
    if (!isFinite(lo) || !isFinite(hi)) { lo = 0; hi = 1; }
    const pad = Math.max((hi - lo) * 0.15, Math.abs(hi) * 0.01, 1e-3);
    return [lo - pad, hi + pad];
  }

  geometry() {
    const { width, height } = this.canvas;
    const n = Math.max(this.ctx().nFrames, 2);
    const points = this.points();
    const [lo, hi] = this.drag ? this.drag.range : this.range([...this.values, ...points.map((p) => p.value)]);
    const x = (f) => PAD.left + (f / (n - 1)) * (width - PAD.left - PAD.right);
    const y = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (height - PAD.top - PAD.bottom);
    const frameAt = (px) => ((px - PAD.left) / (width - PAD.left - PAD.right)) * (n - 1);
    const valueAt = (py) => lo + (1 - (py - PAD.top) / (height - PAD.top - PAD.bottom)) * (hi - lo);
    return { x, y, frameAt, valueAt, lo, hi, n, points };
  }

  draw() {
    const g = this.canvas.getContext("2d"), c = this.ctx(), geo = this.geometry();
    const { width, height } = this.canvas;
    g.clearRect(0, 0, width, height);
    g.fillStyle = "#15171c";
    g.fillRect(0, 0, width, height);
    this.drawGrid(g, geo, c);
    const curve = this.drag ? interpolate(geo.points, c.nFrames, this.model.prefix) : this.values;
    g.strokeStyle = "#6cc4ff";
    g.lineWidth = 2;
    g.beginPath();
    curve.forEach((v, f) => (f ? g.lineTo(geo.x(f), geo.y(v)) : g.moveTo(geo.x(f), geo.y(v))));
    g.stroke();
    for (const p of geo.points) {
      g.fillStyle = p.index === this.selected ? "#ffd34d" : p.numeric ? "#ffffff" : "#15171c";
      g.strokeStyle = p.numeric ? "#ffffff" : "#ffb84d";
      g.beginPath();
      g.arc(geo.x(p.frame), geo.y(p.value), 4.5, 0, 2 * Math.PI);
      g.fill();
      g.stroke();
    }
  }

  drawGrid(g, geo, c) {
    const { height } = this.canvas;
    g.strokeStyle = "rgba(255,200,80,0.18)";
    g.lineWidth = 1;
    for (const b of c.beats || []) {
      g.beginPath();
      g.moveTo(geo.x(b), PAD.top);
      g.lineTo(geo.x(b), height - PAD.bottom);
      g.stroke();
    }
    g.fillStyle = "#8a8f99";
    g.font = "10px sans-serif";
    const step = Math.max(1, Math.ceil((c.nFrames / c.fps) / 8));
    for (let s = 0; s * c.fps < c.nFrames; s += step) g.fillText(`${s}s`, geo.x(s * c.fps) - 4, height - 3);
    g.fillText(fmt(geo.hi), 2, PAD.top + 8);
    g.fillText(fmt(geo.lo), 2, height - PAD.bottom);
    if (c.playhead !== null && c.playhead !== undefined) {
      g.strokeStyle = "rgba(255,255,255,0.5)";
      g.beginPath(); g.moveTo(geo.x(c.playhead), 0); g.lineTo(geo.x(c.playhead), height); g.stroke();
    }
  }

  local(e) {
    const r = this.canvas.getBoundingClientRect();
    const sx = this.canvas.width / r.width, sy = this.canvas.height / r.height;
    return [(e.clientX - r.left) * sx, (e.clientY - r.top) * sy];
  }

  hit(e) {
    const [px, py] = this.local(e), geo = this.geometry();
    const found = geo.points.find((p) => Math.hypot(geo.x(p.frame) - px, geo.y(p.value) - py) <= HIT);
    return found ? found.index : null;
  }

  // Where key i's handle is on the screen (for tests and tooltips).
  handlePosition(i) {
    const geo = this.geometry(), p = geo.points.find((q) => q.index === i);
    const r = this.canvas.getBoundingClientRect();
    const sx = r.width / this.canvas.width, sy = r.height / this.canvas.height;
    return { x: r.left + geo.x(p.frame) * sx, y: r.top + geo.y(p.value) * sy };
  }

  down(e) {
    if (e.button !== 0) return;
    const index = this.hit(e);
    this.select(index);
    if (index === null) return;
    const geo = this.geometry();
    this.drag = { index, range: [geo.lo, geo.hi], numeric: numberOf(this.model.keys[index].value) !== null };
    e.preventDefault();
  }

  move(e) {
    if (!this.drag) return;
    const [px, py] = this.local(e), geo = this.geometry(), c = this.ctx();
    const key = this.model.keys[this.drag.index];
    let frame = Math.max(0, Math.min(c.nFrames - 1, Math.round(geo.frameAt(px))));
    if (c.snap && c.beats && c.beats.length) frame = nearest(c.beats, frame);
    key.key = /s$/.test(key.key.trim()) ? `${+(frame / c.fps).toFixed(3)}s` : String(frame);
    if (this.drag.numeric) key.value = fmt(geo.valueAt(py));
    this.sortKeys();
    this.changed();
  }

  up() { if (this.drag) { this.drag = null; this.changed(); } }

  sortKeys() {
    const c = this.ctx(), moving = this.model.keys[this.drag.index];
    const at = (k) => keyFrame(k.key, c) ?? Infinity;
    this.model.keys.sort((a, b) => at(a) - at(b));
    this.drag.index = this.model.keys.indexOf(moving);
    this.selected = this.drag.index;
  }

  doubleClick(e) {
    const index = this.hit(e);
    if (index !== null) { this.remove(index); return; }
    const [px, py] = this.local(e), geo = this.geometry(), c = this.ctx();
    let frame = Math.max(0, Math.min(c.nFrames - 1, Math.round(geo.frameAt(px))));
    if (c.snap && c.beats && c.beats.length) frame = nearest(c.beats, frame);
    if (!this.model.keyed) {
      const constant = numberOf(this.model.text);
      if (constant === null) return; // an expression of t: edit it as text
      this.model = { keyed: true, prefix: null, keys: [{ key: "0", value: fmt(constant), interp: null }] };
    }
    this.model.keys.push({ key: String(frame), value: fmt(geo.valueAt(py)), interp: null });
    this.model.keys.sort((a, b) => (keyFrame(a.key, c) ?? Infinity) - (keyFrame(b.key, c) ?? Infinity));
    this.changed();
  }

  remove(index) {
    if (index === null || !this.model.keyed || this.model.keys.length < 2) return;
    this.model.keys.splice(index, 1);
    this.select(null);
    this.changed();
  }

  select(index) {
    this.selected = index;
    this.onSelect(index === null ? null : this.model.keys[index]);
    this.draw();
  }

  setInterp(interp) {
    if (this.selected === null || !this.model.keyed) return;
    this.model.keys[this.selected].interp = interp || null;
    this.changed();
  }

  changed() { this.draw(); this.onEdit(serialize(this.model), Boolean(this.drag)); }
}

function nearest(list, frame) {
  return list.reduce((best, b) => (Math.abs(b - frame) < Math.abs(best - frame) ? b : best), list[0]);
}

export function fmt(v) {
  if (!isFinite(v)) return String(v);
  const digits = Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 10 ? 2 : 3;
  return String(+v.toFixed(digits));
}
