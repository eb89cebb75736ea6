"""An archive written in parts: the resumable hash equals hashlib's wherever it is cut, and the
central directory of an archive past 4 GiB (ZIP64 offsets) reads back with zipfile."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from shared.datasets.resumable import ResumableSha256
from shared.datasets.zipdir import CentralDirectory
from shared.datasets.zipstream import ZipStream

WHEN = (2025, 1, 2, 3, 4, 6)


@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=4))
def test_a_hash_resumed_from_its_state_is_hashlibs(data: bytes, cuts: list[int]) -> None:
    hasher = ResumableSha256()
    start = 0
    for cut in sorted(min(c, len(data)) for c in cuts):
        hasher.update(data[start:cut])
        hasher = ResumableSha256.resume(hasher.state())
        start = cut
    hasher.update(data[start:])
    assert hasher.hexdigest() == hashlib.sha256(data).hexdigest()


def test_members_past_4_gib_are_found_through_zip64_records(tmp_path: Path) -> None:
    start = 5 * 1024**3  # as if the parts before had written 5 GiB
    stream = ZipStream(WHEN, start=start)
    body = b"".join(stream.add("cat/1.png", [b"a" * 100], size=100, compress=False))
    member = stream.open_member("manifest.jsonl", size=9, compress=True)
    body += member.write(b'{"a": 1}\n') + member.close()
    directory = CentralDirectory(start=stream.size)
    body += directory.records(stream.entries()) + directory.end()
    path = tmp_path / "sparse.zip"
    with path.open("wb") as f:  # a sparse file: the first 5 GiB are a hole
        f.seek(start)
        f.write(body)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["cat/1.png", "manifest.jsonl"]
        assert archive.read("cat/1.png") == b"a" * 100
        assert archive.read("manifest.jsonl") == b'{"a": 1}\n'
        assert archive.getinfo("cat/1.png").header_offset == start
