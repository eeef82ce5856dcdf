// The lanes under the curves: the song (loudness per frame as a waveform, onsets, the beat grid) and the prompts
// (each key's prompts as a band whose height is its weight per frame, so a fade is a ramp).
const COLOURS = ["#6cc4ff", "#ff8f6c", "#9be37a", "#d98cff", "#ffd34d", "#5fe0cf", "#ff6ca8"];

function clear(canvas) {
  const g = canvas.getContext("2d");
  g.fillStyle = "#15171c";
  g.fillRect(0, 0, canvas.width, canvas.height);
  return g;
}

const LEFT = 44, RIGHT = 8;
const xOf = (canvas, n) => (f) => LEFT + (f / Math.max(n - 1, 1)) * (canvas.width - LEFT - RIGHT);

export function drawMusic(canvas, audio, nFrames, playhead) {
  const g = clear(canvas), x = xOf(canvas, nFrames), mid = canvas.height / 2;
  g.fillStyle = "#8a8f99";
  g.font = "10px sans-serif";
  if (!audio) { g.fillText("no song (audio.path)", LEFT, mid + 3); return; }
  const bar = Math.max(1, x(1) - x(0) - 0.5);
  audio.rms.forEach((v, f) => {
    g.fillStyle = "#4a7fa8";
    g.fillRect(x(f), mid - v * (mid - 2), bar, 2 * v * (mid - 2));
    g.fillStyle = "rgba(255,255,255,0.35)";
    g.fillRect(x(f), canvas.height - 2 - audio.onset[f] * 10, bar, audio.onset[f] * 10);
  });
  g.strokeStyle = "rgba(255,200,80,0.8)";
  for (const b of audio.beat_frames) { g.beginPath(); g.moveTo(x(b), 0); g.lineTo(x(b), canvas.height); g.stroke(); }
  g.fillStyle = "#c9ccd3";
  g.fillText(`${audio.bpm.toFixed(1)} bpm`, 2, 12);
  playheadLine(g, canvas, x, playhead);
}

// The prompt sets over the frames: {label, weights[frame]} for each distinct mix.
export function promptBands(prompts) {
  const bands = new Map();
  prompts.forEach((mixes, f) => {
    for (const mix of mixes) {
      const label = [...mix.text, ...mix.images].map((p) => `${p.text}:${+p.weight.toFixed(2)}`).join(" | ");
      if (!bands.has(label)) bands.set(label, { label, start: f, weights: new Array(prompts.length).fill(0) });
      bands.get(label).weights[f] += mix.weight;
    }
  });
  return [...bands.values()];
}

export function drawPrompts(canvas, prompts, playhead) {
  const g = clear(canvas), n = prompts.length, x = xOf(canvas, n);
  const bands = promptBands(prompts), h = canvas.height - 4;
  const below = new Array(n).fill(0);
  bands.forEach((band, i) => {
    g.fillStyle = COLOURS[i % COLOURS.length] + "99";
    g.beginPath();
    g.moveTo(x(0), canvas.height - 2 - below[0] * h);
    band.weights.forEach((w, f) => g.lineTo(x(f), canvas.height - 2 - (below[f] + w) * h));
    for (let f = n - 1; f >= 0; f--) g.lineTo(x(f), canvas.height - 2 - below[f] * h);
    g.fill();
    band.weights.forEach((w, f) => { below[f] += w; });
    g.fillStyle = "#f2f3f5";
    g.font = "11px sans-serif";
    g.fillText(band.label.slice(0, 80), x(band.start) + 3, 12 + 13 * (i % 3));
  });
  playheadLine(g, canvas, x, playhead);
  return bands;
}

function playheadLine(g, canvas, x, playhead) {
  if (playhead === null || playhead === undefined) return;
  g.strokeStyle = "rgba(255,255,255,0.6)";
  g.beginPath(); g.moveTo(x(playhead), 0); g.lineTo(x(playhead), canvas.height); g.stroke();
}
