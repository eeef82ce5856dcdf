"""Images given as URLs (init_image, image prompts): fetched once into the cache from a loopback server
(127.0.0.1 only), with a size limit, a timeout and a named error when the host cannot be reached."""
from __future__ import annotations

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.models.url_cache import UrlFetchError, cached_path, fetch_url

TINY = ["width=128", "height=64", "animation.max_frames=1", "seed=1", "output=png", "generator=preview",
        "animation=none"]


def png_bytes() -> bytes:
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.hits.append(self.path)
        body = self.server.png
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        if self.path.startswith("/missing"):
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        if not self.path.startswith("/unsized"):  # no Content-Length: the limit must hold while streaming
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.png, httpd.hits = png_bytes(), []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_address[1]}/{path}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_init_image_url_is_fetched_once_and_used(compose_config, server, tmp_path):
    url = server.url("pic.png")
    args = [*TINY, f"init_image={url}", f"url_cache_dir={tmp_path / 'cache'}"]
    render_animation(compose_config(*args), tmp_path / "a", progress=False)
    cached = cached_path(url, tmp_path / "cache")
    assert cached.read_bytes() == server.png and cached.suffix == ".png"
    frame = np.asarray(Image.open(tmp_path / "a" / "frames" / "00000.png"))
    assert np.array_equal(frame, np.asarray(Image.open(io.BytesIO(server.png)).convert("RGB")))  # the preview is the init
    render_animation(compose_config(*args), tmp_path / "b", progress=False)
    assert server.hits == ["/pic.png"]  # the second run used the cache
    assert not list((tmp_path / "cache").glob("*.part*"))


def test_image_prompt_urls_are_fetched_into_the_plan(compose_config, server, tmp_path):
    url = server.url("prompt.png")
    plan = plan_and_resolve(to_settings(compose_config(*TINY, f"url_cache_dir={tmp_path}",
                                                   f'image_prompts={{0: ["{url}:2"]}}')))
    assert plan.local_image(url) == cached_path(url, tmp_path) and plan.local_image(url).is_file()
    assert plan.local_image("some/local.png").name == "local.png"  # paths stay paths


@pytest.mark.parametrize("path, overrides, reason", [
    ("big.png", ["url_max_mb=0.001"], "larger than the 0.001 MB limit"),
    ("unsized.png", ["url_max_mb=0.001"], "larger than the 0.001 MB limit"),
    ("slow.png", ["url_timeout=0.3"], "cannot be downloaded"),
    ("missing.png", [], "answered 404"),
])
def test_a_failed_fetch_is_a_named_config_error(compose_config, server, tmp_path, path, overrides, reason):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config(*TINY, f"init_image={server.url(path)}",
                                                f"url_cache_dir={tmp_path}", *overrides)))
    text = str(err.value)
    assert "init_image" in text and reason in text
    assert not list(tmp_path.iterdir())  # nothing partial is left


def test_offline_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UrlFetchError, match="offline, or the host is unreachable"):
        fetch_url(f"http://127.0.0.1:{port}/x.png", tmp_path, max_bytes=10**6, timeout=2)
