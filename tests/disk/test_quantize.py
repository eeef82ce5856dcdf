"""8-bit quantisation: truncation as torchvision's ``to_pil_image`` (what DD's frames go through), rounding to the
nearest level (ties to even, as NumPy's rint), exact round trips for every level, None kept in states."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.functional import to_pil_image

from render.disk.quantize import (
    frame_to_image,
    from_stored_u8,
    image_to_frame,
    round_array_to_u8,
    round_to_levels,
    round_to_u8,
    to_stored_u8,
    truncate_to_levels,
    truncate_to_u8,
    u8_array_to_float,
    u8_to_float,
)


def _frame(seed=0, h=7, w=9):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_truncation_is_to_pil_image():
    frame = _frame()
    assert np.array_equal(frame_to_image(frame), np.asarray(to_pil_image(frame[0])))
    assert torch.equal(truncate_to_u8(frame[0]).permute(1, 2, 0), torch.from_numpy(np.array(to_pil_image(frame[0]))))


def test_truncation_clamps_out_of_range_values():
    x = torch.tensor([-0.5, -1e-6, 0.0, 0.999, 1.0, 1.002, 7.0])
    assert truncate_to_u8(x).tolist() == [0, 0, 0, 254, 255, 255, 255]


def test_rounding_is_rint_clamped():
    levels = torch.arange(256, dtype=torch.float32)
    x = torch.cat([(levels + 0.5) / 255, (levels + 0.49) / 255, (levels + 0.51) / 255, torch.tensor([-0.3, 1.3])])
    expected = np.clip(np.rint(x.numpy() * np.float32(255)), 0, 255).astype(np.uint8)
    assert np.array_equal(round_to_u8(x).numpy(), expected)
    assert torch.equal(round_to_levels(x), torch.from_numpy(expected).float() / 255)


def test_every_level_survives_the_round_trips():
    image = np.arange(256, dtype=np.uint8).repeat(3).reshape(16, 16, 3)
    frame = image_to_frame(image)
    assert frame.dtype == torch.float32 and frame.shape == (1, 3, 16, 16)
    assert np.array_equal(frame_to_image(frame), image)  # k/255 * 255 truncates back to k, for every k
    assert torch.equal(truncate_to_levels(frame), frame) and torch.equal(round_to_levels(frame), frame)
    stored = to_stored_u8(frame)
    assert stored.dtype == torch.uint8 and torch.equal(from_stored_u8(stored, "cpu"), frame)
    assert torch.equal(u8_to_float(stored), frame)


def test_states_keep_none():
    assert to_stored_u8(None) is None and from_stored_u8(None, "cpu") is None


def test_arrays_round_on_either_scale():
    x = np.array([0.0, 0.5 / 255, 1.5 / 255, 0.2, 1.0, 1.2, -0.1], dtype=np.float32)
    assert round_array_to_u8(x).tolist() == [0, 0, 2, 51, 255, 255, 0]
    assert round_array_to_u8(np.array([0.5, 1.5, 254.6, 300.0, -3.0]), scale=1).tolist() == [0, 2, 255, 255, 0]
    assert round_array_to_u8(x).dtype == np.uint8
    levels = np.arange(256, dtype=np.uint8)
    assert np.array_equal(u8_array_to_float(levels), levels / 255.0)
    assert u8_array_to_float(levels, np.float32).dtype == np.float32


@pytest.mark.parametrize("bad", [torch.zeros(3, 4, 4), torch.zeros(2, 3, 4, 4), torch.zeros(1, 4, 4, 4)])
def test_frames_of_another_shape_are_refused(bad):
    with pytest.raises(ValueError, match="expected a"):
        frame_to_image(bad)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4), np.uint8),
                                 np.zeros((4, 4, 4), np.uint8)])
def test_images_of_another_kind_are_refused(bad):
    with pytest.raises(ValueError, match="expected an"):
        image_to_frame(bad)
