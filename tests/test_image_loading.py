"""Every odd image a user can drop on the app loads correctly or fails with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genhmr_app.image.loading import ImageLoadError, load_image


def _save(tmp_path, name, array, mode=None, **kwargs):
    path = tmp_path / name
    Image.fromarray(array, mode=mode).save(path, **kwargs) if mode else Image.fromarray(array).save(path, **kwargs)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is text, not a JPEG")
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(path)


def test_zero_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    path = _save(tmp_path, "full.jpg", rng.integers(0, 255, (200, 300, 3), dtype=np.uint8))
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(cut)


def test_16bit_png_uses_its_range(tmp_path):
    ramp = (np.linspace(0, 4095, 64 * 64).reshape(64, 64)).astype(np.uint16)
    path = tmp_path / "depth16.png"
    Image.fromarray(ramp).save(path)
    img = load_image(path)
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == (64, 64, 3)
    # A 12-bit ramp must span the 8-bit range, not collapse to near-black.
    assert img.rgb.min() == 0 and img.rgb.max() == 255


def test_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((32, 40, 4), dtype=np.uint8)
    rgba[:, :20] = (255, 0, 0, 255)  # opaque red half, transparent other half
    img = load_image(_save(tmp_path, "a.png", rgba))
    assert img.rgb.shape == (32, 40, 3)
    assert tuple(img.rgb[0, 0]) == (255, 0, 0)
    assert tuple(img.rgb[0, 39]) == (255, 255, 255)


def test_greyscale(tmp_path):
    grey = np.tile(np.arange(50, dtype=np.uint8), (30, 1))
    img = load_image(_save(tmp_path, "g.png", grey))
    assert img.rgb.shape == (30, 50, 3)
    assert np.array_equal(img.rgb[..., 0], img.rgb[..., 2])


def test_exif_rotation_is_honoured(tmp_path):
    # A 60x40 landscape buffer tagged "rotate 90 CW" (orientation 6) must come out 40 wide, 60 tall,
    # with the marked top-left corner moved to the top-right.
    arr = np.zeros((40, 60, 3), dtype=np.uint8)
    arr[:10, :10] = 255
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.exif_transposed
    assert loaded.rgb.shape[:2] == (60, 40)
    assert loaded.rgb[:10, -10:].mean() > 200 and loaded.rgb[-10:, :10].mean() < 50


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
