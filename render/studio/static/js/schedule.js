// A schedule's text as keys and back (README "Schedules"): "cubic 0: (1), 10: (1 + 0.1*sin(t)) ease_in, 2s: (2)".
// The text stays the truth: parse() keeps every key's own spelling, serialize() writes it back unchanged except for
// what an edit touched, so typed text survives a round trip. The exact curve comes from the server (/api/plan);
// interpolate() only draws the curve while a key is being dragged.

export const INTERPOLATIONS = ["linear", "step", "cubic", "ease_in", "ease_out", "ease_in_out"];

// Split at the commas outside parentheses.
function splitTop(text) {
  const parts = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) { parts.push(text.slice(start, i)); start = i + 1; }
    if (depth < 0) return null;
  }
  if (depth !== 0) return null;
  parts.push(text.slice(start));
  return parts;
}

// One "KEY: (VALUE) [interp]" item, or null.
function parseKey(part) {
  const colon = part.indexOf(":");
  if (colon < 0) return null;
  const key = part.slice(0, colon).trim();
  const rest = part.slice(colon + 1).trim();
  if (!key || !rest.startsWith("(")) return null;
  let depth = 0, end = -1;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "(") depth++;
    else if (rest[i] === ")" && --depth === 0) { end = i; break; }
  }
  if (end < 0) return null;
  const tail = rest.slice(end + 1).trim();
  if (tail && !INTERPOLATIONS.includes(tail)) return null;
  const value = rest.slice(1, end).trim();
  return { key, value, interp: tail || null };
}

// {keyed: true, prefix, keys: [{key, value, interp}]} or {keyed: false, text} (a bare expression).
export function parseSchedule(text) {
  let body = String(text).trim(), prefix = null;
  const word = /^([A-Za-z_]+)\s+(.*)$/s.exec(body);
  if (word && INTERPOLATIONS.includes(word[1])) { prefix = word[1]; body = word[2]; }
  const parts = splitTop(body);
  const keys = parts ? parts.map(parseKey) : [null];
  if (!keys.length || keys.some((k) => k === null)) return { keyed: false, text: String(text) };
  return { keyed: true, prefix, keys };
}

export function serialize(model) {
  if (!model.keyed) return model.text;
  const keys = model.keys.map((k) => `${k.key}: (${k.value})${k.interp ? " " + k.interp : ""}`).join(", ");
  return model.prefix ? `${model.prefix} ${keys}` : keys;
}

export function numberOf(text) {
  const s = String(text).trim();
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) ? Number(s) : null;
}

// Arithmetic of numbers, max_f and fps (+ - * / ** and parentheses): where an expression key lies.
export function keyArithmetic(text, names) {
  const tokens = String(text).match(/\*\*|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+|[A-Za-z_]+|[-+*/()]|\S/g) || [];
  let i = 0;
  const peek = () => tokens[i];
  const atom = () => {
    const t = tokens[i++];
    if (t === "(") { const v = sum(); if (tokens[i++] !== ")") throw new Error("("); return v; }
    if (t === "-") return -atom();
    if (t === "+") return atom();
    if (t !== undefined && /^[\d.]/.test(t)) return Number(t);
    if (t in names) return names[t];
    throw new Error(`not a key: ${text}`);
  };
  const power = () => { const b = atom(); return peek() === "**" ? (i++, b ** power()) : b; };
  const product = () => {
    let v = power();
    while (peek() === "*" || peek() === "/") v = tokens[i++] === "*" ? v * power() : v / power();
    return v;
  };
  const sum = () => {
    let v = product();
    while (peek() === "+" || peek() === "-") v = tokens[i++] === "+" ? v + product() : v - product();
    return v;
  };
  const v = sum();
  if (i !== tokens.length) throw new Error(`not a key: ${text}`);
  return v;
}

// The frame a key stands on (null when it cannot be placed here): "10", "2.5s", "16b" (with the beat clock), or
// an arithmetic of max_f and fps.
export function keyFrame(key, ctx) {
  const s = String(key).trim();
  let m = /^(\d+\.?\d*|\.\d+)\s*s$/.exec(s);
  if (m) return Number(m[1]) * ctx.fps;
  m = /^(\d+\.?\d*|\.\d+)\s*b$/.exec(s);
  if (m) return ctx.beatClock ? beatFrame(Number(m[1]), ctx.beatClock) : null;
  try {
    return keyArithmetic(s, { max_f: ctx.nFrames - 1, fps: ctx.fps });
  } catch (e) {
    return null;
  }
}

function beatFrame(beat, clock) {
  for (let f = 1; f < clock.length; f++) {
    if (clock[f] >= beat) return f - 1 + (beat - clock[f - 1]) / Math.max(clock[f] - clock[f - 1], 1e-9);
  }
  return null;
}

const EASE = {
  linear: (u) => u, step: () => 0, cubic: (u) => u * u * (3 - 2 * u), ease_in: (u) => u ** 3,
  ease_out: (u) => 1 - (1 - u) ** 3, ease_in_out: (u) => (u < 0.5 ? 4 * u ** 3 : 1 - (2 - 2 * u) ** 3 / 2),
};

// Values per frame from placed keys [{frame, value, interp}] (sorted): the drawing while dragging.
export function interpolate(points, nFrames, fallback) {
  const out = new Array(nFrames);
  for (let f = 0; f < nFrames; f++) {
    let k = 0;
    while (k + 1 < points.length && points[k + 1].frame <= f) k++;
    const a = points[k], b = points[k + 1];
    if (!a || f <= a.frame || !b) { out[f] = a ? a.value : 0; continue; }
    const u = (f - a.frame) / (b.frame - a.frame);
    out[f] = a.value + (b.value - a.value) * (EASE[a.interp || fallback] || EASE.linear)(u);
  }
  return out;
}

// Hydra's override of a setting with a string value: single-quoted, quotes and backslashes escaped.
export function override(setting, text) {
  return `${setting}='${String(text).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
