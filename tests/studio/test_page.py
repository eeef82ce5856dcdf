"""The studio page in headless Chromium against a live server: the curves editor (drag a key, type a schedule, a
broken one shows the named problem), the camera preview, nothing fetched from elsewhere; and (slow) a tiny job
submitted from the page, its progress, its video playing, a branch from the filmstrip with the edited settings."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from studio.studio_support import TINY_JOB, ThreadServer, free_port, studio_process, wait_state  # noqa: F401
from support import click_track, frame_hashes

from render.studio.app import create_app
from render.studio.config import StudioConfig


@pytest.fixture
def page(browser, tmp_path):
    """The page of a studio that holds its queue (no renders), loaded with the 2d_zoom preset."""
    with ThreadServer(create_app(StudioConfig(home=tmp_path / "home", slots=())), free_port()) as server:
        browser.goto(server.url + "/")
        assert browser.evaluate("window.studio.ready") is True
        choose_preset(browser, "2d_zoom")
        yield browser, server.url


def choose_preset(browser, name: str) -> None:
    browser.evaluate(f"(() => {{ const s = document.querySelector('#preset'); s.value = '{name}'; "
                     f"s.dispatchEvent(new Event('change')); }})()")
    browser.wait_for("window.studio.state.plan && window.studio.state.mode === '2d' && "
                     "document.querySelector('[data-setting=\"animation.zoom\"] input').value !== ''")


ZOOM = '[data-setting="animation.zoom"]'


def zoom_values(browser) -> list[float]:
    return browser.evaluate("window.studio.editors()['animation.zoom'].values")


def not_blank(png: Path) -> float:
    """The standard deviation of a screenshot's grey levels (0: one flat colour)."""
    grey = np.asarray(Image.open(io.BytesIO(png.read_bytes())).convert("L"), dtype=np.float64)
    return float(grey.std())


def test_dragging_a_zoom_key_writes_the_key_into_the_text(page, tmp_path):
    browser, url = page
    assert browser.evaluate(f"document.querySelector('{ZOOM} input').value") == "0: (1), 10: (1.05)"
    start = browser.evaluate("window.studio.editors()['animation.zoom'].handlePosition(1)")
    browser.drag(start, {"x": start["x"] + 120, "y": start["y"] - 30})
    text = browser.evaluate(f"document.querySelector('{ZOOM} input').value")
    key, value = text.split(", ")[1].split(": ")
    frame, zoom = int(key), float(value.strip("()"))
    assert frame > 10 and zoom > 1.05 and text.startswith("0: (1), ")  # moved right and up, frame 0 untouched
    # the server's curve of the new text: the key's value on its frame, 1 on frame 0
    browser.wait_for(f"Math.abs(window.studio.editors()['animation.zoom'].values[{frame}] - {zoom}) < 1e-9")
    assert zoom_values(browser)[0] == 1.0
    shot = browser.screenshot(tmp_path / "editor.png")
    assert not_blank(shot) > 10
    assert browser.errors() == []
    assert [u for u in browser.requests() if not u.startswith((url, "data:", "blob:"))] == []


def test_typing_a_schedule_redraws_the_curve_and_a_broken_one_names_its_problem(page):
    browser, url = page
    before = browser.evaluate(f"document.querySelector('{ZOOM} canvas').toDataURL()")
    browser.type_into(f"{ZOOM} input", "ease_in_out 0: (1), 30: (1.5) step, 40: (0.8)")
    browser.wait_for("Math.abs(window.studio.editors()['animation.zoom'].values[30] - 1.5) < 1e-9")
    values = zoom_values(browser)
    u = 15 / 30  # ease_in_out at the middle of the first segment: 4u^3 = 0.5
    assert values[15] == pytest.approx(1 + 0.5 * 4 * u ** 3) and values[35] == 1.5 and values[40] == 0.8
    assert browser.evaluate(f"document.querySelector('{ZOOM} canvas').toDataURL()") != before
    handles = browser.evaluate("window.studio.editors()['animation.zoom'].points().map(p => [p.frame, p.value])")
    assert handles == [[0, 1], [30, 1.5], [40, 0.8]]

    browser.type_into(f"{ZOOM} input", "0: (1), 10: (")
    problem = browser.wait_for(f"document.querySelector('{ZOOM} .problem').textContent")
    assert problem.startswith("animation.zoom: ") and "unclosed" in problem and "fix:" in problem
    browser.type_into(f"{ZOOM} input", "0: (1), 10: (1.2)")
    browser.wait_for(f"document.querySelector('{ZOOM} .problem').textContent === ''")
    assert browser.errors() == []


ROUND_TRIPS = ["1.05", "0: (1), 10: (1.05)", "0: (0), 2s: (10)", "0: (0), max_f/2: (1), max_f: (0)",
               "1 + 0.05*sin(2*pi*t/24)", "0: (1), 48: (1 + 0.02*sin(s*pi))", "0: (0) step, 12: (1), 24: (0)",
               "ease_in_out 0: (0), 24: (1), 48: (0)", "cubic 0: (0), 12: (2), 24: (-1), 48: (0)",
               "0: (0), 16b: (max(1, min(2, t/10))) ease_out, 20: (3)"]


def test_schedule_text_survives_the_editors_round_trip(page):
    browser, _ = page
    back = browser.evaluate(f"""import('/static/js/schedule.js').then(m =>
        {json.dumps(ROUND_TRIPS)}.map(t => m.serialize(m.parseSchedule(t))))""")
    assert back == ROUND_TRIPS
    keyed = browser.evaluate("""import('/static/js/schedule.js').then(m => [
        m.parseSchedule('0: (0), 16b: (max(1, min(2, t/10))) ease_out, 20: (3)'),
        m.keyFrame('max_f/2', {fps: 12, nFrames: 61}), m.keyFrame('2.5s', {fps: 12, nFrames: 61}),
        m.parseSchedule('0: (1), 10: (').keyed])""")
    assert keyed[0]["keys"][1] == {"key": "16b", "value": "max(1, min(2, t/10))", "interp": "ease_out"}
    assert keyed[1:] == [30, 30, False]


def mouse(browser, at: dict, button: str = "left", clicks: int = 1) -> None:
    for count in range(1, clicks + 1):
        for kind in ("mousePressed", "mouseReleased"):
            browser.call("Input.dispatchMouseEvent", type=kind, x=at["x"], y=at["y"], button=button, clickCount=count)


def test_keys_are_added_removed_and_given_an_interpolation(page):
    browser, _ = page
    editor = "window.studio.editors()['animation.zoom']"
    key1 = browser.evaluate(f"{editor}.handlePosition(1)")
    mouse(browser, {"x": key1["x"] + 150, "y": key1["y"]}, clicks=2)  # a double-click on the background adds a key
    text = browser.evaluate(f"document.querySelector('{ZOOM} input').value")
    assert text.startswith("0: (1), 10: (1.05), ") and len(text.split(", ")) == 3
    mouse(browser, browser.evaluate(f"{editor}.handlePosition(1)"), button="right")  # right-click removes
    text = browser.evaluate(f"document.querySelector('{ZOOM} input').value")
    assert len(text.split(", ")) == 2 and "10: (1.05)" not in text
    mouse(browser, browser.evaluate(f"{editor}.handlePosition(0)"))  # a click chooses key 0
    browser.evaluate(f"(() => {{ const s = document.querySelector('{ZOOM} select'); s.value = 'step'; "
                     f"s.dispatchEvent(new Event('change')); }})()")
    text = browser.evaluate(f"document.querySelector('{ZOOM} input').value")
    assert text.startswith("0: (1) step, ")
    last = int(text.split(", ")[1].split(":")[0])
    browser.wait_for(f"{editor}.values[{last - 1}] === 1 && {editor}.values[{last}] !== 1")  # held, then the jump
    assert browser.errors() == []


def test_the_camera_preview_plays_and_scrubs(page):
    browser, _ = page
    browser.wait_for("document.querySelector('#preview-status').textContent.includes('ready')", timeout=60)
    assert browser.evaluate("window.studio.state.player.frames.length") == 60
    browser.evaluate("(() => { const s = document.querySelector('#scrub'); s.value = 30; "
                     "s.dispatchEvent(new Event('input')); })()")
    assert browser.evaluate("document.querySelector('#frame-label').textContent") == "frame 30 · 2.50 s"
    size = browser.wait_for("(() => { const i = document.querySelector('#preview-img'); "
                            "return i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null })()")
    assert size == [512, 256]  # the run's aspect (256x128) at the page's width
    browser.click("#play")
    browser.wait_for("window.studio.state.player.frame > 31")


def set_overrides(browser, lines: list[str]) -> None:
    text = json.dumps("\n".join(lines))
    browser.evaluate(f"(() => {{ const t = document.querySelector('#overrides'); t.value = {text}; "
                     f"t.dispatchEvent(new Event('input')); }})()")


def test_the_song_under_the_curves_keys_snap_to_beats_and_it_plays_with_the_preview(page, tmp_path):
    browser, _ = page
    home = tmp_path / "home"
    song = click_track(home / "clicks.wav", 120, 6.0)
    set_overrides(browser, [f"audio.path={song}", f"audio.cache_dir={tmp_path / 'cache'}", "output.fps=12",
                            "animation.max_frames=auto"])
    audio = browser.wait_for("window.studio.state.plan.audio")
    assert audio["url"] and len(audio["beat_frames"]) >= 8
    assert all(f % 6 == 3 for f in audio["beat_frames"])  # a click every 0.5 s from 0.25 s, at 12 fps
    browser.evaluate("document.querySelector('#snap').click()")
    start = browser.evaluate("window.studio.editors()['animation.zoom'].handlePosition(1)")
    browser.drag(start, {"x": start["x"] + 200, "y": start["y"]})
    key = int(browser.evaluate(f"document.querySelector('{ZOOM} input').value").split(", ")[1].split(":")[0])
    assert key in audio["beat_frames"] and key > 10
    browser.wait_for("document.querySelector('#preview-status').textContent.includes('ready')", timeout=60)
    browser.click("#play")
    synced = browser.wait_for("""(() => { const a = document.querySelector('#song'), p = window.studio.state.player;
        return !a.paused && a.currentTime > 1 ? [a.currentTime, p.frame] : null })()""", timeout=30)
    seconds, frame = synced
    assert abs(frame - (seconds - audio["offset"]) * 12) <= 2  # the picture follows the song's clock
    drawn = browser.evaluate("""(() => { const c = document.querySelector('#music');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let lit = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 200) lit++; return lit })()""")
    assert drawn > 200  # the waveform and the beat lines


def test_prompt_keys_are_bands_and_a_fade_is_a_ramp(page):
    browser, _ = page
    set_overrides(browser, ["prompts=none", "prompt_blend_interpolation=linear",
                            "text_prompts={0: [\"a forest:2\"], 24 fade 12: [\"a city\"]}"])
    bands = browser.wait_for("window.studio.state.bands && window.studio.state.bands.length === 2 && "
                             "window.studio.state.bands")
    assert [b["label"] for b in bands] == ["a forest:2", "a city:1"]
    city = bands[1]["weights"]
    assert city[:24] == [0] * 24 and city[35:] == [1] * (len(city) - 35)
    assert city[24:36] == pytest.approx([(f - 24 + 1) / 12 for f in range(24, 36)])  # README: u = (f - c + 1) / L
    assert browser.errors() == []


def test_a_sweep_from_the_page_is_a_grid_of_jobs(page):
    browser, _ = page
    browser.evaluate("""(() => { const rows = document.querySelectorAll('.axis');
        rows[0].querySelector('.axis-setting').value = 'seed'; rows[0].querySelector('.axis-values').value = '1 | 2';
        rows[1].querySelector('.axis-setting').value = 'animation.zoom';
        rows[1].querySelector('.axis-values').value = '0: (1.02) | 0: (1.05) | 0: (1.1)'; })()""")
    browser.click("#sweep-submit")
    rows = browser.wait_for("""(() => { const t = document.querySelectorAll('#sweep-table tr');
        return t.length > 1 ? [...t].map(r => [...r.children].map(c => c.textContent)) : null })()""")
    assert rows[0][:4] == ["seed", "animation.zoom", "job", "state"] and len(rows) == 7
    assert [r[:2] for r in rows[1:3]] == [["1", "0: (1.02)"], ["1", "0: (1.05)"]]
    assert all(r[3].startswith("queued") for r in rows[1:])
    browser.evaluate("document.querySelector('.axis-values').value = '1 | x'")
    browser.click("#sweep-submit")
    assert "seed" in browser.wait_for("document.querySelector('#sweep-problems').textContent")


def job_overrides() -> str:
    return "\\n".join(o for o in TINY_JOB if not o.startswith("animation="))


@pytest.mark.slow
def test_a_job_from_the_page_runs_plays_and_branches(browser, studio_process, tmp_path):
    studio = studio_process(env={"DISCO_ANIM_FAULT": "pause:frame:3", "DISCO_ANIM_FAULT_PAUSE": "2"}).start()
    browser.goto(studio.url + "/")
    assert browser.evaluate("window.studio.ready") is True
    choose_preset(browser, "2d_zoom")
    browser.evaluate(f"(() => {{ const t = document.querySelector('#overrides'); t.value = '{job_overrides()}'; "
                     f"t.dispatchEvent(new Event('input')); }})()")
    browser.wait_for("window.studio.state.plan.n_frames === 6")
    browser.click("#submit")
    browser.wait_for("/frame \\d\\/6/.test(document.querySelector('#progress').textContent)", timeout=120)
    assert not_blank(browser.screenshot(tmp_path / "running.png")) > 10
    video = browser.wait_for("""(() => { const v = document.querySelector('#video');
        return !v.hidden && v.readyState >= 2 ? {w: v.videoWidth, d: v.duration} : null })()""", timeout=120)
    assert video["w"] == 64 and video["d"] > 0
    browser.evaluate("document.querySelector('#video').play()")
    browser.wait_for("document.querySelector('#video').currentTime > 0")
    job = browser.evaluate("window.studio.state.runs.chosen")
    with studio.client() as client:
        run_dir = Path(client.get(f"/api/jobs/{job}").json()["run_dir"])
    before = frame_hashes(run_dir)

    browser.type_into(f"{ZOOM} input", "0: (1.3)")
    browser.wait_for("window.studio.state.edited['animation.zoom'] === '0: (1.3)'")
    browser.wait_for("document.querySelectorAll('#filmstrip img').length === 6")
    browser.click('#filmstrip img[data-frame="2"]')
    browser.click("#branch")
    with studio.client() as client:
        wait_state(client, job, states=("queued", "running"), timeout=30)
        done = wait_state(client, job)
    assert done["state"] == "completed"
    after = [h for _, h in sorted(frame_hashes(run_dir).items())]
    before = [h for _, h in sorted(before.items())]
    assert len(after) == 6 and after[:2] == before[:2] and all(a != b for a, b in zip(after[2:], before[2:]))
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["animation"]["zoom"] == "0: (1.3)"
    branch = json.loads((run_dir / "run.json").read_text())["branches"][-1]
    assert branch["frame"] == 2 and branch["changed"] == ["animation.zoom"]
    browser.wait_for(f"document.querySelector('.job[data-id=\"{job}\"]').classList.contains('completed')")
    assert browser.errors() == []
    assert [u for u in browser.requests() if not u.startswith((studio.url, "data:", "blob:"))] == []
