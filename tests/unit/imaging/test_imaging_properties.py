"""Properties: sniffing and inspecting never raise, whatever bytes arrive from the internet."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imaging_samples import encode, picture

from shared.imaging import ImageInfo, Rejection, inspect_image, sniff_format
from shared.models import ImageFormat, ValidationRules

# Pillow warns about the broken metadata that random bytes make; those are expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")

RULES = ValidationRules(formats=list(ImageFormat))
VALID = [encode(picture((64, 48)), name) for name in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")]
MAGIC = [data[:16] for data in VALID]


@given(st.binary(max_size=512))
def test_sniff_never_raises(data: bytes) -> None:
    assert sniff_format(data) in {None, *ImageFormat}


@given(st.sampled_from(MAGIC), st.binary(max_size=2048))
@settings(max_examples=300)
def test_inspect_never_raises_on_garbage_behind_a_real_magic(magic: bytes, tail: bytes) -> None:
    assert isinstance(inspect_image(magic + tail, RULES), (ImageInfo, Rejection))


@given(
    st.sampled_from(VALID),
    st.data(),
)
@settings(max_examples=300)
def test_inspect_never_raises_on_damaged_images(valid: bytes, data: st.DataObject) -> None:
    damaged = bytearray(valid)
    for _ in range(data.draw(st.integers(0, 8))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        damaged[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(damaged)))
    result = inspect_image(bytes(damaged[:cut]), RULES)
    assert isinstance(result, (ImageInfo, Rejection))
