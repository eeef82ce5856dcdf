import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as dd_reference
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from render.config.presets import register_configs  # noqa: E402

CONF_DIR = ROOT / "conf"

# Tiny frames and few of them: every end-to-end test stays well under a second of rendering.
TINY = ["width=128", "height=64", "animation.max_frames=6", "seed=123", "output.preset=ultrafast", "generator=preview"]


def compose_overrides(*overrides):
    """``conf/config.yaml`` composed with overrides, as ``python main.py <overrides>`` would compose it."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return compose(config_name="config", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture
def compose_config():
    """:func:`compose_overrides` as a fixture."""
    return compose_overrides


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory):
    """A 6-frame 64x64 mp4 of drifting noise (for presets that need a source video)."""
    import imageio_ffmpeg
    import numpy as np

    path = tmp_path_factory.mktemp("tiny_video") / "tiny.mp4"
    writer = imageio_ffmpeg.write_frames(str(path), (64, 64), fps=12, macro_block_size=1,
                                         output_params=["-preset", "ultrafast"])
    writer.send(None)
    rng = np.random.default_rng(0)
    for _ in range(6):
        writer.send(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    writer.close()
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: more threads only add synchronisation, which a busy machine turns into minutes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where CUDA is (``python -m benchmarks.gpu_check`` runs them there)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (run python -m benchmarks.gpu_check on one)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless Chromium for the page tests (tests/browser.py): skipped where it is missing, except under CI
    (CI=true), where that fails."""
    from browser import Browser, require_chromium

    chromium = Browser(require_chromium(), tmp_path_factory.mktemp("chromium_profile"))
    yield chromium
    chromium.close()
