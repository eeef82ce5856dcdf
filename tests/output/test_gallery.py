"""gallery.html: a card per job in ranking order, failed jobs with their error, relative links; a 2-job sweep through
hydra/launcher=parallel (joblib) end to end, its gallery opened in headless Chromium and sorted with clicks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from conftest import ROOT
from PIL import Image
from support import make_job, read_csv
from test_report import local_targets

from render.output.sweep import write_summary


class Cards(HTMLParser):
    """The cards of a gallery page: their data attributes, in page order."""

    def __init__(self, html: str):
        super().__init__()
        self.cards = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "article":
            self.cards.append(dict(attrs))


def test_cards_follow_the_ranking_and_failed_jobs_show_their_error(tmp_path):
    make_job(tmp_path, 0, config={"seed": 1}, metrics={"flicker": 0.5, "color_drift_mean": 0.1})
    make_job(tmp_path, 1, config={"seed": 2}, metrics={"flicker": 0.2, "color_drift_mean": 0.1})
    make_job(tmp_path, 2, config={"seed": -5}, record=False, log=(
        "[2025-01-01 10:00:01,000][main][ERROR] - 1 problem in the config:\n  - seed: must be in 0..4294967295\n"))
    Image.new("RGB", (32, 16)).save(tmp_path / "1" / "TimeToDisco.gif")
    Image.new("RGB", (32, 16)).save(tmp_path / "0" / "TimeToDisco_contact.png")  # no GIF: the contact sheet
    (tmp_path / "0" / "report.html").write_text("<html></html>")
    summary = write_summary(tmp_path)
    page = summary.gallery_path.read_text()
    assert summary.gallery_path == tmp_path / "gallery.html"
    cards = Cards(page).cards
    assert [c["data-job"] for c in cards] == ["1", "0", "2"]  # by flicker, the failed job last
    assert [(c["data-k0"], c["data-k1"]) for c in cards] == [("1", "1"), ("2", "0"), ("", "2")]
    assert 'class="error">failed: 1 problem in the config: - seed: must be in 0..4294967295</p>' in page
    assert 'src="1/TimeToDisco.gif"' in page and 'src="0/TimeToDisco_contact.png"' in page
    assert 'href="0/report.html"' in page and 'href="1">folder</a>' in page  # job 1 has no report.html
    assert all(target.exists() for target in local_targets(tmp_path / "gallery.html"))


SWEEP = ["hydra/launcher=parallel", "animation=2d_zoom", "width=64", "height=64", "animation.max_frames=3",
         "generator=preview", "output.preset=ultrafast", "output.quality=true", "seed=1,2"]


@pytest.fixture(scope="module")
def parallel_sweep(tmp_path_factory):
    """``python main.py -m hydra/launcher=parallel ... seed=1,2``: two jobs in joblib's worker processes."""
    sweep = tmp_path_factory.mktemp("sweep")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "main.py", "-m", *SWEEP, f"hydra.sweep.dir={sweep}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep


def test_a_parallel_sweep_writes_the_gallery_and_each_job_its_report(parallel_sweep):
    rows = read_csv(parallel_sweep / "summary.csv")
    assert sorted(r["seed"] for r in rows) == ["1", "2"] and all(r["status"] == "completed" for r in rows)
    page = (parallel_sweep / "gallery.html").read_text()
    assert [c["data-job"] for c in Cards(page).cards] == [r["job"] for r in rows]  # the summary's ranking
    assert all(target.exists() for target in local_targets(parallel_sweep / "gallery.html"))
    for job in ("0", "1"):
        record = json.loads((parallel_sweep / job / "run.json").read_text())
        assert record["presets"]["choices"]["animation"] == "2d_zoom"  # as Hydra composed the job
        report = (parallel_sweep / job / "report.html").read_text()
        assert "compared with conf/config.yaml and the presets animation=2d_zoom" in report
        assert "<code>animation.max_frames</code></th><td><code>3</code>" in report
        assert "<code>animation.zoom</code>" not in report and f'href="{job}/report.html"' in page


def card_order(browser):
    return browser.evaluate("Array.from(document.querySelectorAll('#cards article'), c => c.dataset.job)")


def test_the_gallery_in_a_browser_sorts_by_a_click(parallel_sweep, browser, tmp_path):
    browser.open(parallel_sweep / "gallery.html")
    images = browser.evaluate("Array.from(document.images, i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    assert sorted(src for src, _, _ in images) == ["0/TimeToDisco.gif", "1/TimeToDisco.gif"]
    assert all(complete and width > 0 for _, complete, width in images), images
    flicker = {r["job"]: float(r["flicker"]) for r in read_csv(parallel_sweep / "summary.csv")}
    assert flicker["0"] != flicker["1"]
    by_flicker = sorted(flicker, key=flicker.get)
    assert card_order(browser) == by_flicker  # ranked by flicker, lowest first
    browser.click("button[data-sort='1']")  # job
    assert card_order(browser) == ["0", "1"]
    button = browser.evaluate("Array.from(document.querySelectorAll('button[data-sort]'))"
                              ".find(b => b.textContent.startsWith('flicker')).dataset.sort")
    browser.click(f"button[data-sort='{button}']")
    assert card_order(browser) == by_flicker
    browser.click(f"button[data-sort='{button}']")  # again: highest first
    assert card_order(browser) == by_flicker[::-1]
    assert browser.evaluate(f"document.querySelector(\"button[data-sort='{button}']\").textContent") == "flicker ▼"
    browser.screenshot(tmp_path / "gallery.png")
    with Image.open(tmp_path / "gallery.png") as shot:
        assert shot.width >= 1200 and shot.height >= 300
    assert [url for url in browser.requests() if not url.startswith(parallel_sweep.as_uri())] == []
