"""Model registry, verification and downloads, against a local HTTP server (no internet)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import pytest
from conftest import ROOT  # noqa: E402
from hostile_http import MALFORMED_URLS, SLOW_S, HostileServer, no_dns
from hypothesis import given, settings

from render.models import download as dl
from render.models import registry
from render.models.cli import list_table, main
from render.models.download import DownloadError, download, download_preset, ensure
from render.models.registry import (
    ALIASES,
    PRESET_FILES,
    REGISTRY,
    ChangedModelFile,
    ChecksumMismatch,
    MissingModelFiles,
    ModelFile,
    UnverifiedModelFile,
    find,
    openclip_key,
    register,
    resolve,
    resolve_models_dir,
    verify,
)

DATA = random.Random(7).randbytes(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server(monkeypatch):
    """Serves ``files[name]`` at ``url(route, name)`` (routes: tests/hostile_http.py); ``requests`` records what
    clients asked for."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    srv = HostileServer({"model.pt": DATA}, default_name="model.pt")
    yield srv
    srv.close()


@pytest.fixture
def entry(monkeypatch):
    """Point the registry's 'secondary' entry at test URLs and the test file's sha256 (restored afterwards)."""
    def make(*urls, key="secondary", sha256=SHA, size=None, prefix=None):
        file = dataclasses.replace(REGISTRY[key], sha256=sha256, size=size, urls=tuple(urls), sha256_prefix=prefix)
        monkeypatch.setitem(REGISTRY, key, file)
        return file
    return make


@pytest.fixture
def hash_calls(monkeypatch):
    """Count calls of the streaming hash function."""
    calls = []
    real = registry.sha256_file

    def counting(path):
        calls.append(Path(path))
        return real(path)
    monkeypatch.setattr(registry, "sha256_file", counting)
    return calls


def fetch(file, folder, **kw):
    return download(file, folder, progress=False, **kw)


# ---------------------------------------------------------------------------------------------------------------
# The table


DD_KEYS = ["256x256_diffusion_uncond", "512x512_diffusion_uncond_finetune_008100", "portrait_generator_v001",
           "pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256", "pixel_art_diffusion_soft_256",
           "pixelartdiffusion4k", "watercolordiffusion_2", "watercolordiffusion", "PulpSciFiDiffusion", "secondary"]
DD_OPENCLIP = [("ViT-B-32", "laion2b_e16"), ("ViT-B-32", "laion400m_e31"), ("ViT-B-32", "laion400m_e32"),
               ("ViT-B-32-quickgelu", "laion400m_e31"), ("ViT-B-32-quickgelu", "laion400m_e32"),
               ("ViT-B-16", "laion400m_e31"), ("ViT-B-16", "laion400m_e32"), ("RN50", "yfcc15m"), ("RN50", "cc12m"),
               ("RN50-quickgelu", "yfcc15m"), ("RN50-quickgelu", "cc12m"), ("RN101", "yfcc15m"),
               ("RN101-quickgelu", "yfcc15m")]
OPENAI_CLIP = ["ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336px", "RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"]


def test_dd_models_have_full_sha256_and_dd_file_names():
    for key in DD_KEYS:
        f = REGISTRY[key]
        assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), key
        assert f.urls and all(u.startswith("https://") for u in f.urls), key
        assert f.filename == f.urls[0].rsplit("/", 1)[1], key
    assert REGISTRY["512x512_diffusion_uncond_finetune_008100"].sha256.startswith("9c111ab8")
    assert REGISTRY["secondary"].sha256.endswith("84613a")
    assert len(REGISTRY["secondary"].urls) == 3
    assert {REGISTRY[k].kind for k in DD_KEYS} == {"diffusion", "secondary"}


def test_openai_clip_sha256_is_the_url_path_component():
    for key in OPENAI_CLIP:
        f = REGISTRY[key]
        assert f.kind == "clip"
        assert f.urls[0] == f"https://openaipublic.azureedge.net/clip/models/{f.sha256}/{f.filename}"


def test_every_entry_has_a_full_sha256_that_fits_its_name():
    unpublished = {f.key for f in REGISTRY.values() if f.sha256_unpublished}
    assert unpublished == {"dpt_hybrid_nyu"}  # only its name's 8 hex digits are public: recorded at first use
    for f in REGISTRY.values():
        if f.sha256_unpublished:
            assert f.sha256 is None and Path(f.filename).stem.endswith(f.sha256_prefix), f.key
            continue
        assert re.fullmatch(r"[0-9a-f]{64}", f.sha256 or ""), f.key
        if f.sha256_prefix:  # the hex a file name carries (torch.hub's convention) starts the full digest
            assert f.sha256.startswith(f.sha256_prefix) and Path(f.filename).stem.endswith(f.sha256_prefix), f.key
    prefixed = {f.key for f in REGISTRY.values() if f.sha256_prefix and f.kind not in ("depth", "flow")}
    assert prefixed == {openclip_key(a, t) for a, t in DD_OPENCLIP} | {"vgg16"}
    assert REGISTRY["vgg16"].urls == ("https://download.pytorch.org/models/vgg16-397923af.pth",)
    assert REGISTRY["vgg16"].size == 553433881


def test_openclip_entries_match_open_clips_own_table():
    open_clip = pytest.importorskip("open_clip")
    pretrained = open_clip.pretrained
    by_url = {f.urls[0]: f.key for f in REGISTRY.values() if f.urls}
    for arch, tag in open_clip.list_pretrained():  # every open_clip name of a registry file finds that file
        url = pretrained.get_pretrained_cfg(arch, tag).get("url")
        if url in by_url:
            assert openclip_key(arch, tag) == by_url[url], (arch, tag)
    for arch, tag in DD_OPENCLIP:
        assert REGISTRY[openclip_key(arch, tag)].urls[0] == pretrained.get_pretrained_cfg(arch, tag)["url"], (arch, tag)
    for key in OPENAI_CLIP:
        arch = key.replace("/", "-").replace("@336px", "-336")
        assert REGISTRY[openclip_key(arch, "openai")].urls[0] == pretrained.get_pretrained_cfg(arch, "openai")["url"]


@pytest.mark.parametrize("preset", sorted(PRESET_FILES))
def test_preset_file_lists_match_the_model_presets(preset):
    from render.config.diffusion_plan import required_files
    from render.config.presets import model_preset

    assert PRESET_FILES[preset] == required_files(model_preset(preset), lpips=True)


def test_presets_aliases_and_resolve():
    assert [f.key for f in resolve(["disco512"])] == ["512x512_diffusion_uncond_finetune_008100", "secondary",
                                                      "ViT-B/32", "ViT-B/16", "RN50", "vgg16"]
    assert [f.key for f in resolve(["disco256", "RN50", "disco512"])][:2] == ["256x256_diffusion_uncond", "secondary"]
    assert len(resolve(["disco256", "disco512"])) == 7  # shared files once
    assert all(target in REGISTRY for target in ALIASES.values())
    assert openclip_key("RN50", "yfcc15m") == openclip_key("RN50-quickgelu", "yfcc15m") == "RN50-quickgelu/yfcc15m"
    with pytest.raises(KeyError, match="did you mean.*ViT-B/32"):
        resolve(["ViT-B/33"])


def test_register_adds_entries_and_refuses_silent_replacement(monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", dict(REGISTRY))
    registry.REGISTRY.pop("my_depth", None)
    midas = ModelFile("my_depth", "my_depth-2f21e586.pt", None, None, ("https://example.invalid/x.pt",),
                      "depth", "a depth model", sha256_prefix="2f21e586")
    assert register(midas) is midas and registry.REGISTRY["my_depth"] is midas
    other = dataclasses.replace(midas, description="changed")
    with pytest.raises(ValueError, match="already registered"):
        register(other)
    register(other, replace=True)
    assert registry.REGISTRY["my_depth"].description == "changed"
    with pytest.raises(ValueError, match="64 lowercase hex"):
        dataclasses.replace(midas, sha256="abc")
    with pytest.raises(ValueError, match="kind"):
        dataclasses.replace(midas, kind="vae")
    with pytest.raises(ValueError, match="plain file name"):
        dataclasses.replace(midas, filename="../x.pt")
    with pytest.raises(ValueError, match="sha256_unpublished with a sha256"):
        dataclasses.replace(midas, sha256=SHA, sha256_prefix=None, sha256_unpublished=True)


# ---------------------------------------------------------------------------------------------------------------
# Where files live


def test_models_dir_argument_beats_env_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DISCO_ANIM_MODELS", raising=False)
    assert resolve_models_dir() == tmp_path / "home/.cache/disco-anim/models"
    monkeypatch.setenv("DISCO_ANIM_MODELS", str(tmp_path / "env"))
    assert resolve_models_dir() == tmp_path / "env"
    assert resolve_models_dir("") == tmp_path / "env"
    assert resolve_models_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_models_dir("~/m") == tmp_path / "home/m"


def test_find_uses_the_resolved_models_dir(monkeypatch, tmp_path):
    f = REGISTRY["secondary"]
    monkeypatch.setenv("DISCO_ANIM_MODELS", str(tmp_path))
    assert find(f) is None
    (tmp_path / f.filename).write_bytes(b"x")
    assert find(f) == tmp_path / f.filename
    assert find(f, tmp_path / "elsewhere") is None


# ---------------------------------------------------------------------------------------------------------------
# Verification


def test_verify_mismatch_names_file_hashes_and_fix(entry, tmp_path):
    f = entry()
    path = tmp_path / f.filename
    path.write_bytes(DATA[:-1])
    with pytest.raises(ChecksumMismatch) as info:
        verify(path, f)
    message = str(info.value)
    for needle in (str(path), SHA, hashlib.sha256(DATA[:-1]).hexdigest(), "Delete", "python -m render.models"):
        assert needle in message


def test_verify_hashes_a_file_once_then_trusts_the_sidecar_until_it_changes(entry, tmp_path, hash_calls):
    f = entry()
    path = tmp_path / f.filename
    path.write_bytes(DATA)
    assert verify(path, f) and verify(path, f) and verify(path, f)
    assert len(hash_calls) == 1
    assert registry.sidecar_path(path).is_file()
    path.write_bytes(DATA[:-1] + b"!")  # same size, new content
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ChecksumMismatch):
        verify(path, f)
    assert len(hash_calls) == 2


def test_verify_checks_a_published_prefix_and_skips_without_any_hash(entry, tmp_path, caplog):
    path = tmp_path / "secondary_model_imagenet_2.pth"
    path.write_bytes(DATA)
    assert verify(path, entry(sha256=None, prefix=SHA[:8]))
    with pytest.raises(ChecksumMismatch, match="prefix"):
        verify(path, entry(sha256=None, prefix="00000000" if not SHA.startswith("0") else "ffffffff"))
    caplog.set_level("WARNING", logger="render.models.registry")
    assert verify(path, entry(sha256=None, prefix=None)) is False
    assert "not verified" in caplog.text


# ---------------------------------------------------------------------------------------------------------------
# A file without a published sha256 (dpt_hybrid_nyu): the prefix checked, the first copy used recorded, a changed
# copy refused until the record is deleted or a digest is pinned

NYU_ENV = "DISCO_ANIM_SHA256_DPT_HYBRID_NYU"
OTHER = random.Random(8).randbytes(300_000)
OTHER_SHA = hashlib.sha256(OTHER).hexdigest()


@pytest.fixture
def unpublished(monkeypatch, server):
    """The registry's dpt_hybrid_nyu entry, its file served by the test server under a name with DATA's prefix."""
    monkeypatch.delenv(NYU_ENV, raising=False)
    name = f"dpt_hybrid_nyu-{SHA[:8]}.pt"
    server.files[name] = DATA
    file = dataclasses.replace(REGISTRY["dpt_hybrid_nyu"], filename=name, urls=(server.url("range", name),),
                               sha256_prefix=SHA[:8])
    monkeypatch.setitem(REGISTRY, "dpt_hybrid_nyu", file)
    return file


@pytest.fixture
def unprefixed(unpublished, monkeypatch):
    """The same entry without a prefix in its name (so that another file can pass the prefix check): only the
    record tells two copies apart."""
    file = dataclasses.replace(unpublished, filename="dpt_hybrid_nyu.pt", sha256_prefix=None)
    monkeypatch.setitem(REGISTRY, "dpt_hybrid_nyu", file)
    return file


def _record(folder, file):
    return json.loads((folder / (file.filename + registry.RECORD_SUFFIX)).read_text())


def test_an_unpublished_file_is_fetched_prefix_checked_and_recorded_at_its_first_check(unpublished, server, tmp_path):
    target = tmp_path / unpublished.filename
    assert registry.sha256_env_var(unpublished) == NYU_ENV
    assert main(["dpt_hybrid_nyu", "--models-dir", str(tmp_path), "--no-progress"]) == 0
    assert target.read_bytes() == DATA and len(server.requests) == 1
    assert not registry.record_path(target, unpublished).exists()  # recorded when first checked, not when fetched
    status = next(ln for ln in list_table(tmp_path).splitlines() if ln.startswith("dpt_hybrid_nyu "))
    assert status.endswith("present, prefix checked")
    assert verify(target, unpublished) is True
    record = _record(tmp_path, unpublished)
    assert record["sha256"] == SHA and record["size"] == len(DATA) and record["key"] == "dpt_hybrid_nyu"
    assert record["filename"] == unpublished.filename and record["recorded"]
    assert verify(target, unpublished) and ensure(["dpt_hybrid_nyu"], tmp_path) == {"dpt_hybrid_nyu": target}
    status = next(ln for ln in list_table(tmp_path).splitlines() if ln.startswith("dpt_hybrid_nyu "))
    assert status.endswith("present, verified against its first use")
    lines = "\n".join(registry.describe_missing(unpublished, tmp_path))
    assert f"not published (starts with {SHA[:8]}): recorded at first use (or pinned in ${NYU_ENV})" in lines


def test_a_file_whose_prefix_does_not_fit_is_refused_as_corrupt(unpublished, tmp_path):
    path = tmp_path / unpublished.filename
    path.write_bytes(OTHER)  # OTHER's sha256 does not start with DATA's prefix
    with pytest.raises(ChecksumMismatch, match="prefix"):
        verify(path, unpublished)
    assert not registry.record_path(path, unpublished).exists()


def test_a_changed_file_is_refused_by_name_and_accepted_by_deleting_the_record(unprefixed, tmp_path):
    path = tmp_path / unprefixed.filename
    path.write_bytes(DATA)
    assert verify(path, unprefixed)
    path.write_bytes(OTHER)
    with pytest.raises(ChangedModelFile) as info:
        verify(path, unprefixed)
    exc, record = info.value, registry.record_path(path, unprefixed)
    assert isinstance(exc, UnverifiedModelFile)  # a named error: exit status 2, a config issue before loading
    message = str(exc)
    for needle in (str(path), "not the file first used", OTHER_SHA, SHA, str(record), f"rm {record}",
                   f"export {NYU_ENV}={OTHER_SHA}", "python -m render.models dpt_hybrid_nyu", "fix: "):
        assert needle in message, needle
    status = next(ln for ln in list_table(tmp_path).splitlines() if ln.startswith("dpt_hybrid_nyu "))
    assert "CHANGED since its first use" in status
    record.unlink()  # the user accepts the new file
    assert verify(path, unprefixed) and _record(tmp_path, unprefixed)["sha256"] == OTHER_SHA


def test_a_pinned_digest_overrides_the_record(unprefixed, tmp_path, monkeypatch):
    path = tmp_path / unprefixed.filename
    path.write_bytes(DATA)
    assert verify(path, unprefixed)
    path.write_bytes(OTHER)
    monkeypatch.setenv(NYU_ENV, OTHER_SHA)
    assert verify(path, unprefixed)
    assert _record(tmp_path, unprefixed)["sha256"] == SHA  # the record is left as it was
    monkeypatch.setenv(NYU_ENV, SHA)  # a pin that does not fit the file: a mismatch like a published sha256's
    with pytest.raises(ChecksumMismatch, match=SHA):
        verify(path, unprefixed)


def test_a_download_that_differs_from_the_record_is_refused(unprefixed, server, tmp_path):
    path = tmp_path / unprefixed.filename
    path.write_bytes(OTHER)
    assert verify(path, unprefixed)  # the first copy used, recorded
    path.unlink()
    server.files[unprefixed.filename] = DATA
    file = dataclasses.replace(unprefixed, urls=(server.url("range", unprefixed.filename),))
    with pytest.raises(ChangedModelFile, match=OTHER_SHA):
        fetch(file, tmp_path)
    assert not path.exists() and len(server.requests) == 1


@pytest.mark.parametrize("value", ["yes", SHA[:63], "0" * 64, SHA + "0"], ids=["word", "63hex", "prefix", "65hex"])
def test_a_pinned_value_that_is_not_a_sha256_with_the_prefix_is_named(unpublished, tmp_path, monkeypatch, value):
    path = tmp_path / unpublished.filename
    path.write_bytes(DATA)
    monkeypatch.setenv(NYU_ENV, value)
    with pytest.raises(UnverifiedModelFile) as info:
        verify(path, unpublished)
    assert f"${NYU_ENV} is {value!r}: not a sha256 (64 hex digits) starting with {SHA[:8]}" in str(info.value)
    status = next(ln for ln in list_table(tmp_path).splitlines() if ln.startswith("dpt_hybrid_nyu "))
    assert status.endswith(f"present, NOT VERIFIABLE (${NYU_ENV} is not a sha256)")


def test_a_pinned_digest_is_checked_like_a_published_one(unpublished, server, tmp_path, monkeypatch):
    path = tmp_path / unpublished.filename
    monkeypatch.setenv(NYU_ENV, SHA[:8] + "0" * 56)  # the prefix fits, the file does not
    path.write_bytes(DATA)
    with pytest.raises(ChecksumMismatch, match=SHA[:8] + "0" * 56):
        verify(path, unpublished)
    path.unlink()
    monkeypatch.setenv(NYU_ENV, f" {SHA.upper()}\n")  # pasted from sha256sum or a shell: case and spaces do not matter
    assert main(["dpt_hybrid_nyu", "--models-dir", str(tmp_path), "--no-progress"]) == 0
    assert path.read_bytes() == DATA and len(server.requests) == 1
    assert verify(path, unpublished) and ensure(["dpt_hybrid_nyu"], tmp_path) == {"dpt_hybrid_nyu": path}
    status = next(ln for ln in list_table(tmp_path).splitlines() if ln.startswith("dpt_hybrid_nyu "))
    assert status.endswith("present, verified")
    assert not registry.record_path(path, unpublished).exists()  # a pinned file needs no record


def test_the_download_command_names_a_non_commercial_licence_before_fetching(server, tmp_path, monkeypatch, capsys):
    server.files["vitb.pth"] = DATA
    base = REGISTRY["depth_anything_v2_base"]
    assert base.license == "CC-BY-NC-4.0" and REGISTRY["depth_anything_v2_small"].license == "Apache-2.0"
    monkeypatch.setitem(REGISTRY, base.key, dataclasses.replace(base, filename="vitb.pth", sha256=SHA,
                                                                size=len(DATA), urls=(server.url("range", "vitb.pth"),)))
    small = REGISTRY["depth_anything_v2_small"]
    monkeypatch.setitem(REGISTRY, small.key, dataclasses.replace(small, urls=(server.url("missing", "s.pth"),)))
    assert main([base.key, small.key, "--models-dir", str(tmp_path / "x"), "--no-progress"]) == 1
    out = capsys.readouterr()
    note = "note: depth_anything_v2_base (vitb.pth) is licensed CC-BY-NC-4.0: non-commercial use only"
    assert note in out.out and "depth_anything_v2_small (" not in out.out  # Apache-2.0: no note
    assert main([base.key, "--models-dir", str(tmp_path), "--no-progress"]) == 0
    assert note in capsys.readouterr().out
    lines = "\n".join(registry.describe_missing(REGISTRY[base.key], tmp_path))
    assert "licence:   CC-BY-NC-4.0 (non-commercial use only)" in lines


# ---------------------------------------------------------------------------------------------------------------
# Downloads


def test_download_good(server, entry, tmp_path, capsys):
    f = entry(server.url("range"))
    path = download(f, tmp_path, progress=True)
    assert path == tmp_path / f.filename and path.read_bytes() == DATA
    assert not dl.part_path(path).exists()
    assert registry.cached_sha256(path) == SHA  # the download recorded its hash
    err = capsys.readouterr().err
    assert f.filename in err and "293k" in err  # tqdm bar with the total (300000 B)


def test_download_resumes_a_partial_file_with_a_range_request(server, entry, tmp_path):
    f = entry(server.url("range"))
    dl.part_path(tmp_path / f.filename).write_bytes(DATA[:123_456])
    path = fetch(f, tmp_path)
    assert [r["range"] for r in server.requests] == ["bytes=123456-"]
    assert server.requests[0]["sent"] == len(DATA) - 123_456
    assert path.read_bytes() == DATA and verify(path, f)


def test_download_restarts_cleanly_when_the_server_ignores_range(server, entry, tmp_path):
    f = entry(server.url("norange"))
    dl.part_path(tmp_path / f.filename).write_bytes(DATA[:100_000])
    path = fetch(f, tmp_path)
    assert path.read_bytes() == DATA
    assert len(server.requests) == 1  # the 200 body replaced the part; it was not appended and re-fetched


def test_download_of_an_already_complete_part_accepts_416(server, entry, tmp_path):
    f = entry(server.url("range"))
    dl.part_path(tmp_path / f.filename).write_bytes(DATA)
    assert fetch(f, tmp_path).read_bytes() == DATA
    assert [r["range"] for r in server.requests] == [f"bytes={len(DATA)}-"]


def test_download_follows_redirects_and_keeps_the_range(server, entry, tmp_path):
    f = entry(server.url("redirect"))
    dl.part_path(tmp_path / f.filename).write_bytes(DATA[:5000])
    assert fetch(f, tmp_path).read_bytes() == DATA
    assert [(r["route"], r["range"]) for r in server.requests] == [("redirect", "bytes=5000-"),
                                                                   ("range", "bytes=5000-")]


def test_dropped_connection_is_resumed_within_one_download(server, entry, tmp_path):
    f = entry(server.url("truncate-once"))
    path = fetch(f, tmp_path)
    assert path.read_bytes() == DATA
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(DATA) // 3}-"]


def test_truncating_server_gives_a_clear_error_and_the_next_run_resumes(server, entry, tmp_path):
    f = entry(server.url("truncate"))
    with pytest.raises(DownloadError) as info:
        fetch(f, tmp_path)
    message = str(info.value)
    assert server.url("truncate") in message and f"closed after {len(DATA) // 2} of {len(DATA)} bytes" in message
    assert "resumes" in message and not (tmp_path / f.filename).exists()
    f = entry(server.url("range"))
    assert fetch(f, tmp_path).read_bytes() == DATA
    assert server.requests[-1]["range"] == f"bytes={len(DATA) // 2}-"


def test_corrupt_download_is_deleted_and_the_next_url_used(server, entry, tmp_path):
    f = entry(server.url("corrupt"))
    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        fetch(f, tmp_path)
    assert server.url("corrupt") in str(info.value)
    assert not (tmp_path / f.filename).exists() and not dl.part_path(tmp_path / f.filename).exists()
    f = entry(server.url("corrupt"), server.url("range"))
    assert fetch(f, tmp_path).read_bytes() == DATA


def test_corrupt_resumed_part_is_downloaded_again_whole(server, entry, tmp_path):
    f = entry(server.url("range"))
    dl.part_path(tmp_path / f.filename).write_bytes(b"\0" * 1000)  # e.g. left by a mirror serving another file
    assert fetch(f, tmp_path).read_bytes() == DATA
    assert [r["range"] for r in server.requests] == ["bytes=1000-", None]


def test_falls_back_to_the_second_url_after_404(server, entry, tmp_path):
    f = entry(server.url("missing"), server.url("range"))
    assert fetch(f, tmp_path).read_bytes() == DATA
    assert [r["route"] for r in server.requests] == ["missing", "range"]


def test_error_lists_every_url_and_why(server, entry, tmp_path):
    f = entry(server.url("missing"), server.url("corrupt"), "http://127.0.0.1:9/refused")
    with pytest.raises(DownloadError) as info:
        fetch(f, tmp_path)
    lines = str(info.value).splitlines()
    assert any(server.url("missing") in ln and "HTTP 404" in ln for ln in lines)
    assert any(server.url("corrupt") in ln and "sha256 mismatch" in ln for ln in lines)
    assert any("127.0.0.1:9/refused" in ln and "cannot connect" in ln for ln in lines)


def test_a_stalled_server_times_out(server, entry, tmp_path):
    f = entry(server.url("slow"), server.url("range"))
    start = time.monotonic()
    assert fetch(f, tmp_path, timeout=0.2).read_bytes() == DATA
    assert time.monotonic() - start < SLOW_S
    with pytest.raises(DownloadError, match="timed out"):
        fetch(entry(server.url("slow")), tmp_path / "other", timeout=0.2)


@pytest.mark.parametrize("route", ["drip", "silent"])
def test_a_slow_server_fails_at_the_deadline_and_what_came_is_kept(server, entry, tmp_path, route):
    f = entry(server.url(route))
    start = time.monotonic()
    with pytest.raises(DownloadError, match="took longer than 1 s for the whole download"):
        fetch(f, tmp_path, deadline=1.0)  # the per-read timeout stays 60 s: the deadline ends it
    assert time.monotonic() - start < 2.0
    part = dl.part_path(tmp_path / f.filename)
    if route == "drip":
        assert 0 < part.stat().st_size < 20 and DATA.startswith(part.read_bytes())  # the next run resumes there
    else:
        assert not part.exists()
    assert not (tmp_path / f.filename).exists()


@pytest.mark.parametrize("route, reason", [
    ("reset", "connection"), ("close", "closed the connection without answering"), ("loop", "redirects in a loop"),
    ("long-header", "not valid HTTP"), ("bad-status", "not valid HTTP"), ("status-500", "HTTP 500"),
])
def test_a_hostile_server_is_named_per_url(server, entry, tmp_path, route, reason):
    f = entry(server.url(route))
    with pytest.raises(DownloadError) as info:
        fetch(f, tmp_path, timeout=2)
    assert info.value.failures[0][0] == server.url(route) and reason in info.value.failures[0][1]
    assert not list(tmp_path.iterdir())


@settings(max_examples=60, deadline=None)
@given(url=MALFORMED_URLS)
def test_a_malformed_url_is_named_per_url(url):
    file = dataclasses.replace(REGISTRY["secondary"], sha256=SHA, urls=(url,))
    with tempfile.TemporaryDirectory() as tmp, mock.patch("socket.getaddrinfo", no_dns):
        with pytest.raises(DownloadError) as info:
            download(file, tmp, progress=False, timeout=2)
        assert [u for u, _ in info.value.failures] == [url] and info.value.failures[0][1].strip()
        assert not list(Path(tmp).iterdir())


def test_present_file_is_not_downloaded_again(server, entry, tmp_path, hash_calls):
    f = entry(server.url("range"))
    fetch(f, tmp_path)
    fetch(f, tmp_path)
    ensure(["secondary"], tmp_path)
    assert len(server.requests) == 1 and len(hash_calls) == 1


# ---------------------------------------------------------------------------------------------------------------
# ensure, presets and the command


def test_ensure_returns_verified_paths(entry, tmp_path):
    entry("http://127.0.0.1:9/never")
    (tmp_path / "secondary_model_imagenet_2.pth").write_bytes(DATA)
    assert ensure(["secondary"], tmp_path) == {"secondary": tmp_path / "secondary_model_imagenet_2.pth"}


def test_missing_files_message_says_where_and_how(entry, tmp_path):
    f = entry("https://a.example/s.pth", "https://b.example/s.pth", size=len(DATA))
    with pytest.raises(MissingModelFiles) as info:
        ensure(["secondary", "RN50"], tmp_path)
    message = str(info.value)
    assert [x.key for x in info.value.files] == ["secondary", "RN50"]
    for needle in ("2 model files are missing", "secondary", f.filename, SHA, str(tmp_path / f.filename),
                   "https://a.example/s.pth", "https://b.example/s.pth", f"{len(DATA)} bytes",
                   "RN50.pt", REGISTRY["RN50"].sha256, REGISTRY["RN50"].urls[0],
                   f"python -m render.models secondary RN50 --models-dir {tmp_path}", "DISCO_ANIM_MODELS"):
        assert needle in message, needle


def test_ensure_downloads_when_allowed_and_reports_failures(server, entry, tmp_path):
    entry(server.url("range"))
    assert ensure(["secondary"], tmp_path, allow_download=True, progress=False)["secondary"].read_bytes() == DATA
    entry(server.url("missing"))
    with pytest.raises(MissingModelFiles, match="(?s)downloading failed.*HTTP 404"):
        ensure(["secondary"], tmp_path / "empty", allow_download=True, progress=False)


def test_ensure_with_a_corrupt_file(server, entry, tmp_path):
    entry(server.url("range"))
    path = tmp_path / "secondary_model_imagenet_2.pth"
    path.write_bytes(b"garbage")
    with pytest.raises(ChecksumMismatch):
        ensure(["secondary"], tmp_path)
    ensure(["secondary"], tmp_path, allow_download=True, progress=False)
    assert path.read_bytes() == DATA


def test_download_preset_fetches_every_file_of_the_preset(server, entry, tmp_path):
    for i, key in enumerate(PRESET_FILES["disco512"]):
        server.files[f"f{i}"] = body = DATA[i:]
        entry(server.url("range", f"f{i}"), key=key, sha256=hashlib.sha256(body).hexdigest())
    paths = download_preset("disco512", tmp_path, progress=False)
    assert list(paths) == PRESET_FILES["disco512"]
    assert all(p.read_bytes() == DATA[i:] for i, p in enumerate(paths.values()))
    with pytest.raises(KeyError, match="disco256"):
        download_preset("disco1024", tmp_path)


def test_list_shows_present_missing_and_corrupt(entry, tmp_path, capsys):
    f = entry()
    assert main(["--list", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "disco512 = " in out
    assert all(key in out for key in REGISTRY)

    def status(key):
        return next(ln for ln in list_table(tmp_path).splitlines() if ln.startswith(key + " "))

    assert status("secondary").endswith("missing") and f.filename in status("secondary")
    path = tmp_path / f.filename
    path.write_bytes(DATA)
    assert status("secondary").endswith("present, not checked yet") and "293.0 KB" in status("secondary")
    verify(path, f)
    assert status("secondary").endswith("present, verified")
    entry(sha256="0" * 64)
    assert status("secondary").endswith("present, CORRUPT (sha256 mismatch)")
    assert status("RN50").endswith("missing")


def test_command_downloads_and_reports(server, entry, tmp_path, capsys):
    entry(server.url("range"))
    assert main(["secondary", "--models-dir", str(tmp_path), "--no-progress"]) == 0
    assert f"secondary: {tmp_path / 'secondary_model_imagenet_2.pth'}" in capsys.readouterr().out
    entry(server.url("missing"))
    assert main(["secondary", "--models-dir", str(tmp_path / "x"), "--no-progress"]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["ViT-B/33"])
    assert info.value.code == 2 and "did you mean" in capsys.readouterr().err


def test_module_entry_point_lists(tmp_path):
    result = subprocess.run([sys.executable, "-m", "render.models", "--list", "--models-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "512x512_diffusion_uncond_finetune_008100" in result.stdout and "missing" in result.stdout
    # depth and flow files are described by their own modules and listed (and downloadable) too
    assert all(key in result.stdout for key in ("dpt_large", "adabins_nyu", "raft_large_C_T_SKHT_V2"))
    for key, name in [("midas_v21", "midas_v21-f6b98070.pt"), ("dpt_hybrid_nyu", "dpt_hybrid_nyu-2ce69ec7.pt")]:
        row = next(ln for ln in result.stdout.splitlines() if ln.startswith(key + " "))
        assert "depth" in row and name in row and row.endswith("missing")
