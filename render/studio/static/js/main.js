// The studio page: the config being edited (a preset, extra overrides, the schedules edited here), its curves,
// song and prompts from /api/plan, its camera preview, the queue and the sweeps. Exposed as window.studio.
import { call } from "./api.js";
import { CurveEditor } from "./curves.js";
import { Player } from "./preview.js";
import { Runs } from "./runs.js";
import { INTERPOLATIONS, override } from "./schedule.js";
import { Sweeps } from "./sweeps.js";
import { drawMusic, drawPrompts } from "./timeline.js";

const $ = (selector) => document.querySelector(selector);
const state = { presets: null, plan: null, mode: null, edited: {}, rows: {}, playhead: 0, request: 0 };

function extraOverrides() {
  return $("#overrides").value.split("\n").map((line) => line.trim()).filter(Boolean);
}

// The schedules edited on the page, as overrides (what a branch is given).
function scheduleOverrides() {
  return Object.entries(state.edited).map(([setting, text]) => override(setting, text));
}

function body() {
  return { overrides: [`animation=${$("#preset").value}`, ...extraOverrides(), ...scheduleOverrides()] };
}

function context() {
  const plan = state.plan, audio = plan && plan.audio;
  return {
    nFrames: plan ? plan.n_frames : 2, fps: plan ? plan.fps : 12, beats: audio ? audio.beat_frames : [],
    beatClock: audio ? audio.b : null, snap: $("#snap").checked, playhead: state.playhead,
  };
}

function showProblem(text) { $("#problems").textContent = text; }

// One row per camera schedule of the mode: its name, the text field, the named problem, the curve, the key's
// interpolation.
function scheduleRow(field) {
  const row = document.createElement("div");
  row.className = "schedule";
  row.dataset.setting = field.setting;
  row.innerHTML = `<div class="head"><label></label><input class="schedule-text" spellcheck="false">
    <select class="interp" title="the interpolation of the segment the chosen key starts" disabled></select></div>
    <div class="problem"></div><canvas class="curve" width="900" height="110"></canvas>`;
  row.querySelector("label").textContent = field.setting.replace("animation.", "");
  row.querySelector("label").title = field.help;
  const input = row.querySelector("input"), select = row.querySelector("select");
  select.append(new Option("(key: schedule's default)", ""), ...INTERPOLATIONS.map((n) => new Option(n, n)));
  const editor = new CurveEditor(row.querySelector("canvas"), context, (text, dragging) => {
    input.value = text;
    edit(field.setting, text, dragging);
  }, (key) => {
    select.disabled = key === null;
    select.value = key && key.interp ? key.interp : "";
  });
  select.addEventListener("change", () => editor.setInterp(select.value));
  input.addEventListener("input", () => { editor.setText(input.value); edit(field.setting, input.value, false); });
  return { row, input, editor, problem: row.querySelector(".problem") };
}

function edit(setting, text, dragging) {
  state.edited[setting] = text;
  schedulePlan(dragging ? 400 : 300);
}

function buildRows(mode) {
  const fields = state.presets.schedules.filter((f) => f.modes.includes(mode));
  state.rows = {};
  $("#curves").replaceChildren(...fields.map((field) => {
    const made = scheduleRow(field);
    state.rows[field.setting] = made;
    return made.row;
  }));
  if (!fields.length) $("#curves").textContent = `animation.mode=${mode} has no camera schedules`;
}

let timer = null;
function schedulePlan(delay) {
  clearTimeout(timer);
  timer = setTimeout(refreshPlan, delay);
}

async function refreshPlan() {
  const mine = ++state.request, asked = body();
  let plan;
  $("#plan-status").textContent = "checking...";
  try {
    plan = await call("POST", "/api/plan", asked);
  } catch (error) {
    if (mine === state.request) showProblems(error);
    return;
  }
  if (mine !== state.request) return;
  showProblems(null);
  state.plan = plan;
  if (plan.mode !== state.mode) { state.mode = plan.mode; buildRows(plan.mode); }
  for (const [setting, made] of Object.entries(state.rows)) {
    const text = setting in state.edited ? state.edited[setting] : String(plan.settings[setting]);
    if (document.activeElement !== made.input && !made.editor.drag) made.input.value = text;
    if (!made.editor.drag) made.editor.setText(text);
    made.editor.setValues(plan.schedules[setting] || []);
  }
  const warnings = plan.warnings.join("; ");
  $("#plan-status").textContent = `${plan.n_frames} frames at ${plan.fps} fps, ${plan.width}x${plan.height}` +
    (plan.audio ? ` · song: ${plan.audio.note}` : "") +
    (warnings ? ` · ${warnings.length > 140 ? warnings.slice(0, 140) + "… (hover for all)" : warnings}` : "");
  $("#plan-status").title = warnings;
  drawLanes();
  state.player.setSong(plan.audio);
  state.player.load(asked).catch((error) => { $("#preview-status").textContent = error.message; });
}

function showProblems(error) {
  for (const made of Object.values(state.rows)) { made.problem.textContent = ""; made.row.classList.remove("invalid"); }
  if (!error) { showProblem(""); return; }
  const loose = [];
  for (const p of error.problems.length ? error.problems : [{ setting: null, problem: error.message }]) {
    const made = state.rows[p.setting];
    const text = `${p.setting ? p.setting + ": " : ""}${p.problem}${p.fix ? ` (fix: ${p.fix})` : ""}`;
    if (made) { made.problem.textContent = text; made.row.classList.add("invalid"); } else loose.push(text);
  }
  showProblem(loose.join("\n"));
  $("#plan-status").textContent = "the config has problems";
}

function drawLanes() {
  const plan = state.plan;
  if (!plan) return;
  drawMusic($("#music"), plan.audio, plan.n_frames, state.playhead);
  state.bands = drawPrompts($("#prompts"), plan.prompts, state.playhead);
  for (const made of Object.values(state.rows)) if (!made.editor.drag) made.editor.draw();
}

async function start() {
  state.presets = await call("GET", "/api/presets");
  const preset = $("#preset");
  preset.append(...state.presets.groups.animation.filter((n) => n !== "none").map((n) => new Option(n, n)));
  preset.value = state.presets.groups.animation.includes("3d_zoom") ? "3d_zoom" : preset.options[0].value;
  preset.addEventListener("change", () => { state.edited = {}; schedulePlan(0); });
  $("#overrides").addEventListener("input", () => schedulePlan(600));
  $("#snap").addEventListener("change", drawLanes);
  state.player = new Player({ img: $("#preview-img"), scrub: $("#scrub"), play: $("#play"), label: $("#frame-label"),
    audio: $("#song"), status: $("#preview-status") }, (frame) => { state.playhead = frame; drawLanes(); });
  state.runs = new Runs({ list: $("#jobs"), detail: $("#job"), progress: $("#progress"), image: $("#progress-img"),
    strip: $("#filmstrip"), branch: $("#branch"), links: $("#links"), video: $("#video"), message: $("#job-message") },
  scheduleOverrides, (text) => { $("#run-problems").textContent = text; });
  $("#submit").addEventListener("click", () => state.runs.submit(body()));
  const axes = [...document.querySelectorAll(".axis")].map((row) => [row.querySelector(".axis-setting"),
    row.querySelector(".axis-values")]);
  state.sweeps = new Sweeps({ axes, submit: $("#sweep-submit"), table: $("#sweep-table"), summary: $("#sweep-summary") },
    body, (text) => { $("#sweep-problems").textContent = text; });
  await refreshPlan();
}

window.studio = { state, editors: () => Object.fromEntries(Object.entries(state.rows).map(([k, v]) => [k, v.editor])),
  refreshPlan, ready: start().then(() => true) };
