import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as dd_reference
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402

from render.schema import register_configs  # noqa: E402

CONF_DIR = ROOT / "conf"

# Tiny frames and few of them: every end-to-end test stays well under a second of rendering.
TINY = ["width=128", "height=64", "animation.max_frames=6", "seed=123", "output.preset=ultrafast", "generator=preview"]


@pytest.fixture
def compose_config():
    """Compose ``conf/config.yaml`` with overrides, as ``python main.py <overrides>`` would."""
    register_configs()

    def _compose(*overrides):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            return compose(config_name="config", overrides=list(overrides))

    yield _compose
    GlobalHydra.instance().clear()
