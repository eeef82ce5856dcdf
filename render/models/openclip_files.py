"""CLIP weights the registry does not list: any pretrained ``ARCH:TAG`` open_clip knows, fetched by open_clip's own
download (Hugging Face hub or its URL, with their integrity checks) into ``<models folder>/open_clip``."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import open_clip
from open_clip import pretrained as oc_pretrained

from render.models import registry
from render.user_error import UserError

SUBDIR = "open_clip"
HF_WEIGHT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")  # open_clip's hub defaults


class OpenClipDownloadFailed(UserError, FileNotFoundError):
    """A CLIP model open_clip knows could not be fetched; the message names the file and where it comes from."""


@dataclass(frozen=True)
class OpenClipFile:
    arch: str
    tag: str
    hf_repo: str | None  # the Hugging Face hub repository open_clip downloads from (preferred), or None
    hf_names: tuple[str, ...]  # the file names tried in that repository, in open_clip's order
    url: str | None  # the direct URL, used when there is no hub entry

    @property
    def key(self) -> str:
        return f"{self.arch}:{self.tag}"

    @property
    def source(self) -> str:
        if self.hf_repo:
            return f"https://huggingface.co/{self.hf_repo} ({' or '.join(self.hf_names)})"
        return self.url or "(open_clip lists no source)"


def lookup(arch: str, tag: str) -> OpenClipFile | None:
    """open_clip's pretrained entry for ``arch:tag`` (None when open_clip does not know it)."""
    cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not cfg or not (cfg.get("hf_hub") or cfg.get("url")):
        return None
    hub = cfg.get("hf_hub", "")
    if hub and oc_pretrained.has_hf_hub():
        repo, name = os.path.split(hub)  # "org/model/" means open_clip's default file name
        return OpenClipFile(arch, tag, repo, _hub_names(name or HF_WEIGHT_NAMES[1]), None)
    return OpenClipFile(arch, tag, None, (), cfg.get("url") or None)


def _hub_names(name: str) -> tuple[str, ...]:
    """The names open_clip asks the hub for: the safetensors twin first, then the file itself."""
    if name == HF_WEIGHT_NAMES[1]:
        return HF_WEIGHT_NAMES
    if name.endswith((".bin", ".pth", ".pt")):
        return (name.rsplit(".", 1)[0] + ".safetensors", name)
    return (name,)


def known_tags(arch: str) -> list[str]:
    return open_clip.list_pretrained_tags_by_model(arch)


def folder(models_dir: str | os.PathLike | None) -> Path:
    return registry.resolve_models_dir(models_dir) / SUBDIR


def find(file: OpenClipFile, models_dir: str | os.PathLike | None) -> Path | None:
    """The file in the models folder when open_clip has fetched it before (nothing is downloaded)."""
    cache = folder(models_dir)
    if file.hf_repo:
        from huggingface_hub import try_to_load_from_cache

        for name in file.hf_names:
            found = try_to_load_from_cache(file.hf_repo, name, cache_dir=str(cache))
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
        return None
    path = cache / Path(urlparse(file.url or "").path).name
    return path if file.url and path.is_file() else None


def missing_message(file: OpenClipFile, models_dir: str | os.PathLike | None, reason: str | None = None) -> str:
    lines = [f"CLIP model {file.key} is not in the models folder yet:",
             f"  it comes from: {file.source}",
             f"  it goes into:  {folder(models_dir)}"]
    if reason:
        lines.append(f"  download failed: {reason}")
    return "\n".join(lines)


def fetch(file: OpenClipFile, models_dir: str | os.PathLike | None) -> Path:
    """Download through open_clip (resumed and checked by the hub client, or sha256-checked by open_clip's URL
    download where the URL carries the hash); raises OpenClipDownloadFailed with the file and its source."""
    cache = folder(models_dir)
    cache.mkdir(parents=True, exist_ok=True)
    cfg = open_clip.get_pretrained_cfg(file.arch, file.tag)
    try:
        path = oc_pretrained.download_pretrained(cfg, cache_dir=str(cache))
    except Exception as exc:  # network, hub and checksum errors all mean: the file is not here
        raise OpenClipDownloadFailed(missing_message(file, models_dir, f"{type(exc).__name__}: {exc}")) from exc
    if not path or not Path(path).is_file():
        raise OpenClipDownloadFailed(missing_message(file, models_dir, "open_clip returned no file"))
    return Path(path)
