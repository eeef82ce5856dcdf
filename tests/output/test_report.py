"""report.html: rewritten with every checkpoint while rendering, finished with the video; every link relative and on
disk; opened in headless Chromium: the video plays its file, every image loads, nothing is fetched from elsewhere."""
from __future__ import annotations

import signal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from conftest import CONF_DIR, TINY
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from render.app import render_animation
from render.config.presets import register_configs
from render.output import report as report_module
from render.output.report import main as report_main
from render.run.signals import GracefulStop


class Links(HTMLParser):
    """Every src and href of a page, and the tags seen."""

    def __init__(self, html: str):
        super().__init__()
        self.links, self.tags = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name in ("src", "href") and value]


def local_targets(page: Path) -> list[Path]:
    """The files a page links to; fails on any link that is not relative (a CDN, an absolute path)."""
    links = Links(page.read_text()).links
    assert links and not [link for link in links if "://" in link or link.startswith("/")], links
    return [page.parent / unquote(link) for link in links]


def compose_tiny(*overrides):
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return compose(config_name="config", overrides=["animation=2d_zoom", *TINY, *overrides])
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 6-frame preview run of animation=2d_zoom (the presets as Hydra's app would report them), with a copy of
    report.html taken at each of its writes."""
    snapshots: list[str] = []
    write = report_module.RunReport.write

    def recording(self, record):
        path = write(self, record)
        snapshots.append(path.read_text())
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_module.RunReport, "write", recording)
        patch.setattr("render.app.hydra_presets", lambda: {"config_name": "config", "choices": {"animation": "2d_zoom"}})
        result = render_animation(compose_tiny(), tmp_path_factory.mktemp("run"), progress=False)
    return result, snapshots


def test_the_page_follows_the_run_frame_by_frame(tiny_run):
    result, snapshots = tiny_run
    assert len(snapshots) == 1 + 6 + 1  # the start, each checkpoint, the end
    during = snapshots[4]  # after frame 3
    assert '<meta http-equiv="refresh"' in during and "badge running" in during and "<video" not in during
    assert [f'src="frames/{f:05d}.png"' in during for f in range(6)] == [True] * 4 + [False] * 2
    assert f"python main.py resume={result.run_dir}" in during and "4 of 6 frames done" in during
    final = (result.run_dir / "report.html").read_text()
    assert final == snapshots[-1] and "refresh" not in final and "badge completed" in final
    assert 'src="TimeToDisco.mp4"' in final and 'src="TimeToDisco_contact.png"' in final
    assert 'src="schedules.png"' in final and 'data-frames="6"' in final and "resume=" not in final


def test_the_finished_page_links_only_files_of_the_run(tiny_run):
    result, _ = tiny_run
    targets = local_targets(result.run_dir / "report.html")
    assert all(target.exists() for target in targets), [t for t in targets if not t.exists()]
    assert {t.name for t in targets} >= {"TimeToDisco.mp4", "TimeToDisco_contact.png", "schedules.png", "run.json",
                                         "config.yaml"}


def test_changed_settings_are_listed_against_the_defaults(tiny_run):
    result, _ = tiny_run
    page = (result.run_dir / "report.html").read_text()
    changes = page[page.index('<table id="changes">'):]
    changes = changes[:changes.index("</table>")]
    for setting, mine, default in (("output.preset", "ultrafast", "slow"), ("width", "128", "null"),
                                   ("animation.max_frames", "6", "60"), ("generator", "preview", "diffusion")):
        assert f"<code>{setting}</code></th><td><code>{mine}</code></td><td class=\"note\"><code>{default}</code>" \
               in changes, setting
    assert "compared with conf/config.yaml and the presets animation=2d_zoom" in page
    for same in ("batch_name", "resume", "animation.zoom", "animation.mode"):  # 2d_zoom's own zoom is no change
        assert f"<code>{same}</code>" not in changes, same


def test_a_stopped_run_shows_its_latest_frames_and_the_resume_command(tmp_path, monkeypatch):
    stop = GracefulStop()
    write = report_module.RunReport.write

    def stop_after_three(self, record):
        if len(record.frames) == 3:
            stop.signum = signal.SIGINT  # as Ctrl-C would
        return write(self, record)

    monkeypatch.setattr(report_module.RunReport, "write", stop_after_three)
    result = render_animation(compose_tiny(), tmp_path, progress=False, stop=stop)
    assert result.stopped and result.frames == [0, 1, 2]
    page = (tmp_path / "report.html").read_text()
    assert "badge other" in page and "The run is stopped; continue it with" in page and "refresh" not in page
    assert f'<pre id="resume-command">python main.py resume={tmp_path}</pre>' in page
    assert all(f'src="frames/{f:05d}.png"' in page for f in range(3)) and "<video" not in page


def test_the_command_line_rewrites_a_report(tiny_run, capsys):
    result, _ = tiny_run
    (result.run_dir / "report.html").unlink()
    assert report_main([str(result.run_dir)]) == 0
    assert (result.run_dir / "report.html").is_file() and capsys.readouterr().out.strip().endswith("report.html")
    assert report_main([str(result.run_dir / "frames")]) == 2
    assert "has no run.json" in capsys.readouterr().err


def test_the_report_in_a_browser(tiny_run, browser, tmp_path):
    result, _ = tiny_run
    browser.open(result.run_dir / "report.html")
    shot = browser.screenshot(tmp_path / "report.png")
    with Image.open(shot) as image:
        assert image.width >= 1200 and image.height > 1500  # the whole page, longer than the window
    video = browser.evaluate("""new Promise(done => {
        const v = document.querySelector('video');
        const facts = () => ({src: v.getAttribute('src'), duration: v.duration, width: v.videoWidth,
                              height: v.videoHeight, error: v.error && v.error.code});
        if (v.readyState >= 1) done(facts());
        v.addEventListener('loadedmetadata', () => done(facts()));
        v.addEventListener('error', () => done(facts()));
        setTimeout(() => done(facts()), 5000); })""")
    assert (result.run_dir / video["src"]).is_file()
    assert video["error"] is None and (video["width"], video["height"]) == (128, 64)
    assert video["duration"] == pytest.approx(0.5, abs=0.05)
    images = browser.evaluate("Array.from(document.images, i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
    assert {src for src, _, _ in images} == {"TimeToDisco_contact.png", "schedules.png"}
    assert all(complete and width > 0 for _, complete, width in images), images
    assert browser.evaluate("document.querySelectorAll('#timing polygon.stage').length") == 3
    fetched = [url for url in browser.requests() if not url.startswith("data:")]  # data: the video controls' icons
    assert len(fetched) >= 4 and all(url.startswith(result.run_dir.as_uri()) for url in fetched), fetched
