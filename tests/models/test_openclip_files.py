"""Any pretrained ARCH:TAG open_clip lists: planned offline with a named error, fetched through open_clip's download
(here from a loopback server standing in for its table's URL) into the models folder, its sha256 in run.json."""
from __future__ import annotations

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import open_clip
import pytest
import torch
from open_clip import factory as oc_factory
from open_clip import pretrained as oc_pretrained

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.guidance.clip_models import TINY_CLIPS, TINY_TEXT, build_tiny_clip
from render.models import openclip_files

ARCH, TAG = "test-tiny-vit", "loopback"
RUN = ["animation=none", "model=tiny", "width=128", "height=64", "animation.max_frames=1", "model.steps=3",
       "output.quality=false", "output.previews=false", f"model.clip_models=[{ARCH}:{TAG}]"]


@pytest.fixture(scope="module")
def checkpoint() -> bytes:
    """A tiny CLIP of a real open_clip architecture, saved as open_clip saves a checkpoint."""
    buffer = io.BytesIO()
    torch.save(build_tiny_clip("tiny-vit-32", seed=3).state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture
def served(checkpoint):
    """A loopback HTTP server with the checkpoint; counts its downloads."""
    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(checkpoint)))
            self.end_headers()
            self.wfile.write(checkpoint)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


@pytest.fixture
def table(monkeypatch, served):
    """open_clip taught one more architecture and one more pretrained tag, whose URL is the loopback server's."""
    vision, embed_dim = TINY_CLIPS["tiny-vit-32"]
    monkeypatch.setitem(oc_factory._MODEL_CONFIGS, ARCH, {"embed_dim": embed_dim, "vision_cfg": dict(vision),
                                                           "text_cfg": dict(TINY_TEXT)})
    base, _ = served
    monkeypatch.setitem(oc_pretrained._PRETRAINED, ARCH, {TAG: {"url": f"{base}/weights/tiny-clip.pt", "hf_hub": ""}})
    return f"{base}/weights/tiny-clip.pt"


def test_offline_plan_names_the_file_and_where_it_comes_from(compose_config, tmp_path):
    cfg = compose_config("model=tiny", "model.clip_models=[ViT-L-14:laion2b_s32b_b82k]",
                         f"model.models_dir={tmp_path}")
    with pytest.raises(ConfigErrors) as info:
        plan_and_resolve(to_settings(cfg))
    (issue,) = info.value.issues
    assert issue.setting == "model.clip_models" and issue.value == "ViT-L-14:laion2b_s32b_b82k"
    source = openclip_files.lookup("ViT-L-14", "laion2b_s32b_b82k").source
    assert source in issue.problem and str(tmp_path / "open_clip") in issue.problem
    assert "model.download=true" in issue.fix


def test_an_unknown_tag_lists_the_tags_open_clip_has(compose_config):
    with pytest.raises(ConfigErrors) as info:
        plan_and_resolve(to_settings(compose_config("model=tiny", "model.clip_models=[ViT-B-32:laion9000]")))
    (issue,) = info.value.issues
    assert "laion9000" in issue.problem and "laion2b_s34b_b79k" in issue.problem


def test_a_tag_open_clip_lists_is_fetched_once_and_recorded(compose_config, tmp_path, table, served, checkpoint):
    _, hits = served
    cfg = compose_config(*RUN, f"model.models_dir={tmp_path / 'models'}", "model.download=true")
    render_animation(cfg, tmp_path / "a", progress=False)
    fetched = tmp_path / "models" / "open_clip" / "tiny-clip.pt"
    assert fetched.read_bytes() == checkpoint and len(hits) == 1
    entry = json.loads((tmp_path / "a" / "run.json").read_text())["segments"][0]["model_files"][f"{ARCH}:{TAG}"]
    assert entry == {"path": str(fetched), "sha256": hashlib.sha256(checkpoint).hexdigest()}
    # the next run finds it in the models folder: planned as present, not downloaded again, even offline
    plan = plan_and_resolve(to_settings(compose_config(*RUN, f"model.models_dir={tmp_path / 'models'}")))
    assert plan.diffusion.files[f"{ARCH}:{TAG}"] == fetched and plan.diffusion.hub_missing == ()
    render_animation(compose_config(*RUN, f"model.models_dir={tmp_path / 'models'}"), tmp_path / "b", progress=False)
    assert len(hits) == 1
    loaded = open_clip.create_model(ARCH, pretrained=str(fetched))
    assert torch.equal(loaded.visual.conv1.weight, build_tiny_clip("tiny-vit-32", seed=3).visual.conv1.weight)


def test_a_failed_fetch_names_the_file_and_its_source(compose_config, tmp_path, table, monkeypatch):
    monkeypatch.setitem(oc_pretrained._PRETRAINED, ARCH, {TAG: {"url": "http://127.0.0.1:9/weights/tiny-clip.pt",
                                                               "hf_hub": ""}})
    cfg = compose_config(*RUN, f"model.models_dir={tmp_path / 'models'}", "model.download=true")
    with pytest.raises(openclip_files.OpenClipDownloadFailed) as info:
        render_animation(cfg, tmp_path / "run", progress=False)
    text = str(info.value)
    assert f"{ARCH}:{TAG}" in text and "http://127.0.0.1:9/weights/tiny-clip.pt" in text
    assert str(tmp_path / "models" / "open_clip") in text and "download failed" in text


def test_hub_entries_are_looked_up_in_the_hub_cache_of_the_models_folder(tmp_path, monkeypatch):
    file = openclip_files.lookup("ViT-L-14", "laion2b_s32b_b82k")
    assert file.hf_repo == "laion/CLIP-ViT-L-14-laion2B-s32B-b82K"
    assert file.hf_names == ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    assert openclip_files.find(file, tmp_path) is None
    snapshot = tmp_path / "open_clip" / "models--laion--CLIP-ViT-L-14-laion2B-s32B-b82K" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_pytorch_model.bin").write_bytes(b"weights")
    refs = snapshot.parents[1] / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc123")
    assert openclip_files.find(file, tmp_path) == snapshot / "open_clip_pytorch_model.bin"
