"""Model files: what each weight file is, where it comes from, where it lives and whether it is intact.

``REGISTRY`` names every file Disco Diffusion v5.7 downloads that we can name (diffusion models, the secondary model,
OpenAI CLIP, the OpenCLIP tags DD offers, LPIPS's VGG16). ``ensure`` is what the renderer calls before it builds a
model; ``render.download`` fetches files (``python -m render.download disco512``).

Hashes: DD's own models and the OpenAI CLIP checkpoints have full sha256s (DD's ``diff_model_map``; OpenAI's URL
path). For OpenCLIP's release files and torchvision's VGG16 only the 8-hex prefix in the file name is published, so
``sha256`` is None and the prefix is checked instead.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping
from urllib.parse import urlparse

from render.atomic import atomic_open

log = logging.getLogger(__name__)

KINDS = ("diffusion", "secondary", "clip", "lpips", "depth", "flow")
MODELS_DIR_ENV = "DISCO_ANIM_MODELS"
DEFAULT_MODELS_DIR = Path("~/.cache/disco-anim/models")
SIDECAR_SUFFIX = ".sha256"
HASH_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX_PREFIX = re.compile(r"[0-9a-f]{6,63}")


@dataclass(frozen=True)
class ModelFile:
    """One weight file. ``urls`` are tried in order; ``sha256``/``size`` are None when not published."""

    key: str
    filename: str
    sha256: str | None
    size: int | None
    urls: tuple[str, ...]
    kind: str
    description: str
    sha256_prefix: str | None = field(default=None)  # the short hash some hosts put in file names

    def __post_init__(self):
        object.__setattr__(self, "urls", tuple(self.urls))
        if self.kind not in KINDS:
            raise ValueError(f"model file {self.key!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.sha256 is not None and not _HEX64.fullmatch(self.sha256):
            raise ValueError(f"model file {self.key!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.sha256_prefix is not None and not _HEX_PREFIX.fullmatch(self.sha256_prefix):
            raise ValueError(f"model file {self.key!r}: sha256_prefix must be hex, got {self.sha256_prefix!r}")
        if self.sha256 and self.sha256_prefix and not self.sha256.startswith(self.sha256_prefix):
            raise ValueError(f"model file {self.key!r}: sha256 does not start with sha256_prefix")
        if "/" in self.filename or "\\" in self.filename or self.filename in ("", ".", ".."):
            raise ValueError(f"model file {self.key!r}: filename must be a plain file name, got {self.filename!r}")


class ChecksumMismatch(RuntimeError):
    """A file on disk is not the file the registry describes."""

    def __init__(self, path: Path, file: ModelFile, actual: str):
        self.path, self.file, self.actual = Path(path), file, actual
        expected = file.sha256 or f"{file.sha256_prefix}… (prefix)"
        super().__init__(
            f"{self.path}: sha256 mismatch for model file {file.key!r}\n"
            f"  expected: {expected}\n"
            f"  actual:   {actual}\n"
            f"The file is corrupt, truncated or a different file. Delete it and download it again:\n"
            f"  rm {shlex.quote(str(self.path))}\n"
            f"  python -m render.download {shlex.quote(file.key)} --models-dir {shlex.quote(str(self.path.parent))}"
        )


class MissingModelFiles(FileNotFoundError):
    """Model files that are not on disk and could not be downloaded; the message says how to get each one."""

    def __init__(self, files: list[ModelFile], models_dir: Path, reasons: Mapping[str, str] | None = None):
        self.files, self.models_dir, self.reasons = list(files), Path(models_dir), dict(reasons or {})
        super().__init__(missing_files_message(self.files, self.models_dir, self.reasons))


# ---------------------------------------------------------------------------------------------------------------
# The table


def _basename(url: str) -> str:
    return Path(urlparse(url).path).name


def _dd(key: str, sha256: str, urls: list[str], kind: str, description: str) -> ModelFile:
    """A file from DD's ``diff_model_map``; the local name is the first URL's base name, as in DD."""
    return ModelFile(key, _basename(urls[0]), sha256, None, tuple(urls), kind, description)


def _openai_clip(key: str, sha256: str, name: str) -> ModelFile:
    """An OpenAI CLIP checkpoint; OpenAI puts the file's full sha256 in the URL path."""
    url = f"https://openaipublic.azureedge.net/clip/models/{sha256}/{name}.pt"
    return ModelFile(key, f"{name}.pt", sha256, None, (url,), "clip", f"OpenAI CLIP {key}")


def _openclip(key: str, filename: str) -> ModelFile:
    """An OpenCLIP v0.2 release file (key ``ARCH/TAG``); its name ends with the first 8 hex digits of its sha256."""
    url = f"https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/{filename}"
    prefix = Path(filename).stem.rsplit("-", 1)[1]
    arch, tag = key.split("/")
    return ModelFile(key, filename, None, None, (url,), "clip", f"OpenCLIP {arch} trained on {tag}",
                     sha256_prefix=prefix)


_HF = "https://huggingface.co"
_KALIYUGA = "KaliYuga diffusion model (256x256, fine-tuned from OpenAI's 256x256 unconditional model)"


def _dd_files() -> list[ModelFile]:
    """The 10 diffusion models and the secondary model of DD v5.7 (``diff_model_map``)."""
    def kali(name: str) -> str:
        return f"{_HF}/KaliYuga/{name}/resolve/main/{name}.pt"

    return [
        _dd("256x256_diffusion_uncond", "a37c32fffd316cd494cf3f35b339936debdc1576dad13fe57c42399a5dbc78b1",
            ["https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt",
             "https://www.dropbox.com/s/9tqnqo930mpnpcn/256x256_diffusion_uncond.pt"],
            "diffusion", "OpenAI guided-diffusion 256x256 unconditional ImageNet model"),
        _dd("512x512_diffusion_uncond_finetune_008100",
            "9c111ab89e214862b76e1fa6a1b3f1d329b1a88281885943d2cdbe357ad57648",
            [f"{_HF}/lowlevelware/512x512_diffusion_unconditional_ImageNet/resolve/main/"
             "512x512_diffusion_uncond_finetune_008100.pt",
             "https://the-eye.eu/public/AI/models/512x512_diffusion_unconditional_ImageNet/"
             "512x512_diffusion_uncond_finetune_008100.pt"],
            "diffusion", "OpenAI 512x512 class-conditional model fine-tuned to unconditional (DD's default)"),
        _dd("portrait_generator_v001", "b7e8c747af880d4480b6707006f1ace000b058dd0eac5bb13558ba3752d9b5b9",
            [f"{_HF}/felipe3dartist/portrait_generator_v001/resolve/main/portrait_generator_v001_ema_0.9999_1MM.pt"],
            "diffusion", "portrait generator v001 (512x512, fine-tuned on portraits)"),
        _dd("pixelartdiffusion_expanded", "a73b40556634034bf43b5a716b531b46fb1ab890634d854f5bcbbef56838739a",
            [f"{_HF}/KaliYuga/PADexpanded/resolve/main/PADexpanded.pt"], "diffusion",
            f"pixel art, expanded: {_KALIYUGA}"),
        _dd("pixel_art_diffusion_hard_256", "be4a9de943ec06eef32c65a1008c60ad017723a4d35dc13169c66bb322234161",
            [kali("pixel_art_diffusion_hard_256")], "diffusion", f"pixel art, hard: {_KALIYUGA}"),
        _dd("pixel_art_diffusion_soft_256", "d321590e46b679bf6def1f1914b47c89e762c76f19ab3e3392c8ca07c791039c",
            [kali("pixel_art_diffusion_soft_256")], "diffusion", f"pixel art, soft: {_KALIYUGA}"),
        _dd("pixelartdiffusion4k", "a1ba4f13f6dabb72b1064f15d8ae504d98d6192ad343572cc416deda7cccac30",
            [kali("pixelartdiffusion4k")], "diffusion", f"pixel art 4k: {_KALIYUGA}"),
        _dd("watercolordiffusion_2", "49c281b6092c61c49b0f1f8da93af9b94be7e0c20c71e662e2aa26fee0e4b1a9",
            [kali("watercolordiffusion_2")], "diffusion", f"watercolour v2: {_KALIYUGA}"),
        _dd("watercolordiffusion", "a3e6522f0c8f278f90788298d66383b11ac763dd5e0d62f8252c962c23950bd6",
            [kali("watercolordiffusion")], "diffusion", f"watercolour: {_KALIYUGA}"),
        _dd("PulpSciFiDiffusion", "b79e62613b9f50b8a3173e5f61f0320c7dbb16efad42a92ec94d014f6e17337f",
            [kali("PulpSciFiDiffusion")], "diffusion", f"pulp sci-fi: {_KALIYUGA}"),
        _dd("secondary", "983e3de6f95c88c81b2ca7ebb2c217933be1973b1ff058776b970f901584613a",
            [f"{_HF}/spaces/huggi/secondary_model_imagenet_2.pth/resolve/main/secondary_model_imagenet_2.pth",
             "https://the-eye.eu/public/AI/models/v-diffusion/secondary_model_imagenet_2.pth",
             "https://ipfs.pollinations.ai/ipfs/bafybeibaawhhk7fhyhvmm7x24zwwkeuocuizbqbcg5nqx64jq42j75rdiy/"
             "secondary_model_imagenet_2.pth"],
            "secondary", "secondary model (SecondaryDiffusionImageNet2): cheap x0 prediction for the CLIP gradient"),
    ]


def _clip_files() -> list[ModelFile]:
    """OpenAI CLIP (``clip.load`` names) and the OpenCLIP release files behind the tags DD offers."""
    return [
        _openai_clip("ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32"),
        _openai_clip("ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16"),
        _openai_clip("ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14"),
        _openai_clip("ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
                     "ViT-L-14-336px"),
        _openai_clip("RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50"),
        _openai_clip("RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101"),
        _openai_clip("RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4"),
        _openai_clip("RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16"),
        _openai_clip("RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64"),
        _openclip("ViT-B-32/laion2b_e16", "vit_b_32-laion2b_e16-af8dbd0c.pth"),
        _openclip("ViT-B-32-quickgelu/laion400m_e31", "vit_b_32-quickgelu-laion400m_e31-d867053b.pt"),
        _openclip("ViT-B-32-quickgelu/laion400m_e32", "vit_b_32-quickgelu-laion400m_e32-46683a32.pt"),
        _openclip("ViT-B-16/laion400m_e31", "vit_b_16-laion400m_e31-00efa78f.pt"),
        _openclip("ViT-B-16/laion400m_e32", "vit_b_16-laion400m_e32-55e67d44.pt"),
        _openclip("RN50-quickgelu/yfcc15m", "rn50-quickgelu-yfcc15m-455df137.pt"),
        _openclip("RN50-quickgelu/cc12m", "rn50-quickgelu-cc12m-f000538c.pt"),
        _openclip("RN101-quickgelu/yfcc15m", "rn101-quickgelu-yfcc15m-3e04b30e.pt"),
    ]


def _lpips_files() -> list[ModelFile]:
    """LPIPS(net='vgg') loads torchvision's VGG16; its linear layers ship inside the lpips package."""
    url = "https://download.pytorch.org/models/vgg16-397923af.pth"  # torchvision: the 8 hex are a sha256 prefix
    return [ModelFile("vgg16", "vgg16-397923af.pth", None, None, (url,), "lpips",
                      "torchvision VGG16 ImageNet weights (LPIPS backbone, for init_scale)", sha256_prefix="397923af")]


REGISTRY: dict[str, ModelFile] = {f.key: f for f in _dd_files() + _clip_files() + _lpips_files()}

# open_clip's architecture name of each OpenAI checkpoint: ``create_model(arch, pretrained='openai')`` (and its
# ``-quickgelu`` twin) loads the same file as ``clip.load(key)``.
_OPENAI_ARCH = {"ViT-B/32": "ViT-B-32", "ViT-B/16": "ViT-B-16", "ViT-L/14": "ViT-L-14",
                "ViT-L/14@336px": "ViT-L-14-336", "RN50": "RN50", "RN101": "RN101", "RN50x4": "RN50x4",
                "RN50x16": "RN50x16", "RN50x64": "RN50x64"}


def _aliases() -> dict[str, str]:
    """Other names of the same files: open_clip's ``ARCH/TAG`` spellings. See ``openclip_key``."""
    aliases = {f"{arch}{gelu}/openai": key for key, arch in _OPENAI_ARCH.items() for gelu in ("", "-quickgelu")}
    # These OpenCLIP files were trained with QuickGELU; open_clip serves them under both architecture names.
    for arch, tag in [("ViT-B-32", "laion400m_e31"), ("ViT-B-32", "laion400m_e32"), ("RN50", "yfcc15m"),
                      ("RN50", "cc12m"), ("RN101", "yfcc15m")]:
        aliases[f"{arch}/{tag}"] = f"{arch}-quickgelu/{tag}"
    return aliases


ALIASES: dict[str, str] = _aliases()

_CLIPS = ["ViT-B/32", "ViT-B/16", "RN50"]  # DD's default CLIP selection
PRESET_FILES: dict[str, list[str]] = {  # kept equal to what the model presets need (a test checks it)
    "disco512": ["512x512_diffusion_uncond_finetune_008100", "secondary", *_CLIPS, "vgg16"],
    "disco256": ["256x256_diffusion_uncond", "secondary", *_CLIPS, "vgg16"],
}


def register(file: ModelFile, *, replace: bool = False) -> ModelFile:
    """Add a file to ``REGISTRY`` (depth, flow, ... modules call this); an existing key needs ``replace=True``."""
    if file.key in REGISTRY and not replace and REGISTRY[file.key] != file:
        raise ValueError(f"model file {file.key!r} is already registered; pass replace=True to change it")
    if file.key in ALIASES or file.key in PRESET_FILES:
        raise ValueError(f"model file key {file.key!r} is already used as an alias or preset name")
    REGISTRY[file.key] = file
    return file


def openclip_key(arch: str, tag: str) -> str:
    """The registry key of ``open_clip.create_model(arch, pretrained=tag)``'s weight file."""
    return lookup(f"{arch}/{tag}").key


def lookup(name: str) -> ModelFile:
    """The file with this key or alias; an unknown name raises KeyError with close matches."""
    key = ALIASES.get(name, name)
    if key in REGISTRY:
        return REGISTRY[key]
    known = list(REGISTRY) + list(ALIASES) + list(PRESET_FILES)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `python -m render.download --list` shows them all"
    raise KeyError(f"unknown model file or preset {name!r}{hint}")


def resolve(names: Iterable[str | ModelFile]) -> list[ModelFile]:
    """Keys, aliases, preset names or ModelFiles to a list of files without duplicates, in order."""
    files: dict[str, ModelFile] = {}
    for name in names:
        if isinstance(name, ModelFile):
            expanded = [name]
        elif name in PRESET_FILES:
            expanded = [lookup(k) for k in PRESET_FILES[name]]
        else:
            expanded = [lookup(name)]
        for f in expanded:
            files.setdefault(f.key, f)
    return list(files.values())


# ---------------------------------------------------------------------------------------------------------------
# Where files live


def resolve_models_dir(setting: str | os.PathLike | None = None) -> Path:
    """The models folder: the setting when given, else ``$DISCO_ANIM_MODELS``, else ``~/.cache/disco-anim/models``."""
    if setting not in (None, ""):
        return Path(setting).expanduser()
    env = os.environ.get(MODELS_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else DEFAULT_MODELS_DIR.expanduser()


def target_path(file: ModelFile, models_dir: str | os.PathLike | None = None) -> Path:
    """Where ``file`` belongs: ``<models_dir>/<filename>``."""
    return resolve_models_dir(models_dir) / file.filename


def find(file: ModelFile, models_dir: str | os.PathLike | None = None) -> Path | None:
    """The path of ``file`` in the models folder, or None when it is not there (nothing is hashed)."""
    path = target_path(file, models_dir)
    return path if path.is_file() else None


# ---------------------------------------------------------------------------------------------------------------
# Integrity


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in chunks (a 2 GB checkpoint never sits in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + SIDECAR_SUFFIX)


def _stat_key(path: Path) -> dict:
    st = Path(path).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cached_sha256(path: Path) -> str | None:
    """The digest recorded in the sidecar if it still describes the file (same size and mtime), else None."""
    try:
        record = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        if {k: record.get(k) for k in ("size", "mtime_ns")} == _stat_key(path) and _HEX64.fullmatch(record["sha256"]):
            return record["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def write_sidecar(path: Path, digest: str) -> None:
    """Record ``digest`` for the file as it is now; a read-only models folder only costs a re-hash next time."""
    try:
        with atomic_open(sidecar_path(path), "w") as fh:
            json.dump({**_stat_key(path), "sha256": digest}, fh)
    except OSError as exc:
        log.debug("could not write %s: %s", sidecar_path(path), exc)


def file_sha256(path: Path) -> str:
    """The sha256 of ``path``, from its sidecar when the file is unchanged, else hashed once and recorded."""
    digest = cached_sha256(path)
    if digest is None:
        log.info("checking sha256 of %s", path)
        digest = sha256_file(path)
        write_sidecar(path, digest)
    return digest


def has_hash(file: ModelFile) -> bool:
    return bool(file.sha256 or file.sha256_prefix)


def check_digest(path: Path, file: ModelFile, actual: str) -> None:
    """Raise ChecksumMismatch when ``actual`` is not ``file``'s sha256 (or does not start with its prefix)."""
    if file.sha256 is not None and actual != file.sha256:
        raise ChecksumMismatch(path, file, actual)
    if file.sha256 is None and file.sha256_prefix and not actual.startswith(file.sha256_prefix):
        raise ChecksumMismatch(path, file, actual)


def verify(path: Path, file: ModelFile) -> bool:
    """Check ``path`` against ``file``'s hash; True when checked, False when no hash is known (logged).

    The digest is cached in ``<path>.sha256`` keyed by size and mtime, so a big file is hashed once.
    """
    path = Path(path)
    if file.size is not None and path.stat().st_size != file.size:
        raise ChecksumMismatch(path, file, f"(not hashed: {path.stat().st_size} bytes, expected {file.size})")
    if not has_hash(file):
        log.warning("%s: no sha256 is known for model file %r; not verified", path, file.key)
        return False
    if file.sha256 is None:
        log.info("%s: only the sha256 prefix %s is published for %r; checking that", path, file.sha256_prefix, file.key)
    check_digest(path, file, file_sha256(path))
    return True


# ---------------------------------------------------------------------------------------------------------------
# What the renderer calls


def download_command(files: Iterable[ModelFile], models_dir: Path) -> str:
    keys = " ".join(shlex.quote(f.key) for f in files)
    return f"python -m render.download {keys} --models-dir {shlex.quote(str(models_dir))}"


def describe_missing(file: ModelFile, models_dir: Path, reason: str | None = None) -> list[str]:
    """The lines of the missing-files message for one file."""
    size = f"{file.size} bytes" if file.size is not None else "unknown"
    sha = file.sha256 or (f"unknown (starts with {file.sha256_prefix})" if file.sha256_prefix else "unknown")
    lines = [
        f"  - {file.key} ({file.kind}): {file.filename}",
        f"      put it at: {models_dir / file.filename}",
        f"      sha256:    {sha}",
        f"      size:      {size}",
    ]
    lines += [f"      {'from:' if i == 0 else '     '}      {url}" for i, url in enumerate(file.urls)]
    if not file.urls:
        lines.append("      from:      (no known URL; see the description) " + file.description)
    if reason:
        lines += ["      download failed:"] + [f"        {line}" for line in reason.splitlines()]
    return lines


def missing_files_message(files: list[ModelFile], models_dir: Path, reasons: Mapping[str, str]) -> str:
    n = len(files)
    how = "downloading failed" if reasons else "downloading is off"
    lines = [f"{n} model file{'s are' if n != 1 else ' is'} missing from {models_dir} ({how}):"]
    for f in files:
        lines += describe_missing(f, models_dir, reasons.get(f.key))
    lines += [
        "Download them with:",
        f"  {download_command(files, models_dir)}",
        f"or fetch each URL yourself (any one of a file's URLs) and put the file at the path shown. To use another "
        f"folder, set the models directory setting or ${MODELS_DIR_ENV}.",
    ]
    return "\n".join(lines)


def _present_file(file: ModelFile, models_dir: Path, allow_download: bool) -> Path | None:
    """The verified path of ``file`` or None when it must be downloaded (absent, or corrupt and downloading is on)."""
    path = find(file, models_dir)
    if path is None:
        return None
    try:
        verify(path, file)
    except ChecksumMismatch as exc:
        if not allow_download:
            raise
        log.warning("%s\nDownloading it again.", exc)
        return None
    return path


def ensure(files: Iterable[str | ModelFile], models_dir: str | os.PathLike | None = None, *,
           allow_download: bool = False, progress: bool = True) -> dict[str, Path]:
    """Paths of the named files (keys, aliases, presets), verified; download missing ones when allowed.

    Raises MissingModelFiles listing every file that is still missing, and how to get it.
    """
    from render.download import DownloadError, download  # render.download imports this module

    folder = resolve_models_dir(models_dir)
    found: dict[str, Path] = {}
    missing: list[ModelFile] = []
    for file in resolve(files):
        path = _present_file(file, folder, allow_download)
        if path is None:
            missing.append(file)
        else:
            found[file.key] = path
    if missing and not allow_download:
        raise MissingModelFiles(missing, folder)
    reasons: dict[str, str] = {}
    for file in missing:
        try:
            found[file.key] = download(file, folder, progress=progress)
        except DownloadError as exc:
            reasons[file.key] = exc.summary
    if reasons:
        raise MissingModelFiles([f for f in missing if f.key in reasons], folder, reasons)
    return found
