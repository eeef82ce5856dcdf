"""A finished run at a glance: ``<batch>_contact.png`` (evenly spaced frames in a labelled grid) and ``<batch>.gif``
(the whole run, small, at the video's speed), to judge a sweep's runs without opening every video."""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

from render.disk.atomic import atomic_open

CONTACT_TILES = 16
CONTACT_COLUMNS = 4
TILE_WIDTH = 256
GIF_WIDTH = 256
GIF_MAX_FRAMES = 120  # longer runs are subsampled evenly, keeping the playing time
LABEL_HEIGHT = 14


def spaced_frames(n_frames: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``0..n_frames-1``, first and last included."""
    if n_frames < 1:
        raise ValueError("a run without frames has no preview")
    count = min(count, n_frames)
    return sorted({round(i * (n_frames - 1) / max(1, count - 1)) for i in range(count)})


def _load(frames_dir: Path, frame: int, width: int) -> Image.Image:
    with Image.open(frames_dir / f"{frame:05d}.png") as img:
        img = img.convert("RGB")
        height = max(1, round(img.height * width / img.width))
        return img.resize((width, height), Image.Resampling.LANCZOS)


def contact_sheet(frames_dir: Path, n_frames: int, path: Path, *, tiles: int = CONTACT_TILES,
                  columns: int = CONTACT_COLUMNS, tile_width: int = TILE_WIDTH) -> Path:
    """Up to ``tiles`` evenly spaced frames in a grid, each labelled with its frame number."""
    frames = spaced_frames(n_frames, tiles)
    images = [_load(Path(frames_dir), f, tile_width) for f in frames]
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    cell_h = images[0].height + LABEL_HEIGHT
    sheet = Image.new("RGB", (columns * tile_width, rows * cell_h), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, (frame, image) in enumerate(zip(frames, images)):
        x, y = (i % columns) * tile_width, (i // columns) * cell_h
        sheet.paste(image, (x, y))
        draw.text((x + 4, y + image.height + 1), f"frame {frame}", fill=(230, 230, 230))
    with atomic_open(path) as fh:
        sheet.save(fh, format="PNG")
    return path


def preview_gif(frames_dir: Path, n_frames: int, path: Path, *, fps: float, width: int = GIF_WIDTH,
                max_frames: int = GIF_MAX_FRAMES) -> Path:
    """The run as a looping GIF ``width`` pixels wide; at most ``max_frames`` frames, each shown as long as the
    frames it stands for (so the GIF plays as long as the video)."""
    frames = spaced_frames(n_frames, max_frames)
    images = [_load(Path(frames_dir), f, width) for f in frames]
    ends = frames[1:] + [n_frames]
    durations = [max(20, round(1000 * (end - start) / fps)) for start, end in zip(frames, ends)]
    with atomic_open(path) as fh:
        images[0].save(fh, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def write_previews(frames_dir: Path, n_frames: int, stem: Path, *, fps: float) -> list[Path]:
    """``<stem>_contact.png`` and ``<stem>.gif``."""
    stem = Path(stem)
    return [contact_sheet(frames_dir, n_frames, stem.with_name(f"{stem.name}_contact.png")),
            preview_gif(frames_dir, n_frames, stem.with_name(f"{stem.name}.gif"), fps=fps)]

