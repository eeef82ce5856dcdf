"""Images given as URLs (init_image, image prompts): fetched once into the cache from a loopback server that
misbehaves on purpose (tests/hostile_http.py, 127.0.0.1 only), and generated malformed URLs. Every failure is a
UrlFetchError (a ConfigIssue in the config check) with a reason, within its deadline, and leaves nothing in the cache."""
from __future__ import annotations

import io
import random
import socket
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hostile_http import MALFORMED_URLS, HostileServer, no_dns
from hypothesis import given, settings
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


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    srv = HostileServer({"pic.png": png_bytes(), "prompt.png": png_bytes(), "big.png": png_bytes(),
                         "garbage.png": random.Random(5).randbytes(5000), "page.png": b"<html>not found</html>"},
                        default_name="pic.png")
    srv.png = srv.files["pic.png"]
    yield srv
    srv.close()


def test_init_image_url_is_fetched_once_and_used(compose_config, server, tmp_path):
    url = server.url("ok")
    args = [*TINY, f"init_image={url}", f"url_cache_dir={tmp_path / 'cache'}"]
    render_animation(compose_config(*args), tmp_path / "a", progress=False)
    cached = cached_path(url, tmp_path / "cache")
    assert cached.read_bytes() == server.png and cached.suffix == ".png"
    frame = np.asarray(Image.open(tmp_path / "a" / "frames" / "00000.png"))
    assert np.array_equal(frame, np.asarray(Image.open(io.BytesIO(server.png)).convert("RGB")))  # the preview is the init
    render_animation(compose_config(*args), tmp_path / "b", progress=False)
    assert len(server.requests) == 1  # the second run used the cache
    assert list((tmp_path / "cache").iterdir()) == [cached]


def test_image_prompt_urls_are_fetched_into_the_plan(compose_config, server, tmp_path):
    url = server.url("ok", "prompt.png")
    plan = plan_and_resolve(to_settings(compose_config(*TINY, f"url_cache_dir={tmp_path}",
                                                   f'image_prompts={{0: ["{url}:2"]}}')))
    assert plan.local_image(url) == cached_path(url, tmp_path) and plan.local_image(url).is_file()
    assert plan.local_image("some/local.png").name == "local.png"  # paths stay paths


@pytest.mark.parametrize("route, name, overrides, reason", [
    ("ok", "big.png", ["url_max_mb=0.001"], "larger than the 0.001 MB limit"),
    ("unsized", "big.png", ["url_max_mb=0.001"], "larger than the 0.001 MB limit"),
    ("silent", "pic.png", ["url_timeout=0.3"], "took longer than 0.3 s"),
    ("status-404", "pic.png", [], "HTTP 404"),
    ("ok", "garbage.png", [], "is not an image"),
])
def test_a_failed_fetch_is_a_named_config_error(compose_config, server, tmp_path, route, name, overrides, reason):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config(*TINY, f"init_image={server.url(route, name)}",
                                                f"url_cache_dir={tmp_path}", *overrides)))
    text = str(err.value)
    assert "init_image" in text and reason in text
    assert not list(tmp_path.iterdir())  # nothing partial is left


@pytest.mark.parametrize("route, name, timeout, max_bytes, reason", [
    ("ok", "garbage.png", 5, 10**6, "is not an image: cannot be read as an image"),
    ("ok", "page.png", 5, 10**6, "is not an image"),
    ("truncate", "pic.png", 5, 10**6, "connection closed after"),
    ("drip", "pic.png", 1, 10**6, "took longer than 1 s for the whole download"),
    ("drip-headers", "pic.png", 1, 10**6, "took longer than 1 s for the whole download"),
    ("silent", "pic.png", 0.5, 10**6, "took longer than 0.5 s"),
    ("status-404", "pic.png", 5, 10**6, "HTTP 404"),
    ("status-500", "pic.png", 5, 10**6, "HTTP 500"),
    ("reset", "pic.png", 5, 10**6, "connection"),
    ("close", "pic.png", 5, 10**6, "closed the connection without answering"),
    ("loop", "pic.png", 5, 10**6, "redirects in a loop"),
    ("huge", "pic.png", 5, 10**6, "is 1000000.0 MB, larger than the 1 MB limit"),
    ("unsized", "big.png", 5, 1000, "larger than the 0.001 MB limit"),
    ("long-header", "pic.png", 5, 10**6, "not valid HTTP"),
    ("bad-status", "pic.png", 5, 10**6, "not valid HTTP"),
])
def test_a_hostile_server_is_a_named_error_in_time(server, tmp_path, route, name, timeout, max_bytes, reason):
    start = time.monotonic()
    with pytest.raises(UrlFetchError) as err:
        fetch_url(server.url(route, name), tmp_path / "cache", max_bytes=max_bytes, timeout=timeout)
    assert reason in err.value.reason and err.value.url == server.url(route, name)
    assert "\n" not in err.value.reason
    assert time.monotonic() - start < timeout + 1.0
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), 1e300])
def test_a_timeout_the_socket_cannot_take_is_named(server, tmp_path, timeout):
    with pytest.raises(UrlFetchError, match="must be a positive number of seconds"):
        fetch_url(server.url("ok"), tmp_path, max_bytes=10**6, timeout=timeout)
    assert server.requests == [] and not list(tmp_path.iterdir())


def test_a_cached_file_that_no_longer_decodes_is_fetched_again(server, tmp_path):
    url = server.url("ok")
    cached_path(url, tmp_path).write_bytes(b"written by an older version, cut short")
    assert fetch_url(url, tmp_path, max_bytes=10**6, timeout=5).read_bytes() == server.png
    assert len(server.requests) == 1 and list(tmp_path.iterdir()) == [cached_path(url, tmp_path)]


def test_only_http_and_https_are_fetched(tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    with pytest.raises(UrlFetchError, match="only http:// and https://"):
        fetch_url(secret.as_uri(), tmp_path / "cache", max_bytes=10**6, timeout=2)
    assert not (tmp_path / "cache").exists()


def test_offline_is_a_clear_error(tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UrlFetchError, match="offline, or the host is unreachable"):
        fetch_url(f"http://127.0.0.1:{port}/x.png", tmp_path, max_bytes=10**6, timeout=2)
    assert not list(tmp_path.iterdir())


@settings(max_examples=150, deadline=None)
@given(url=MALFORMED_URLS)
def test_a_malformed_url_is_a_named_error(url):
    with tempfile.TemporaryDirectory() as tmp, mock.patch("socket.getaddrinfo", no_dns):
        folder = Path(tmp) / "cache"
        start = time.monotonic()
        with pytest.raises(UrlFetchError) as err:
            fetch_url(url, folder, max_bytes=10**6, timeout=2)
        assert err.value.url == url and err.value.reason.strip() and "\n" not in err.value.reason
        assert time.monotonic() - start < 3
        assert not folder.exists() or not list(folder.iterdir())
