"""The blob store, on real files in a temp directory."""

from __future__ import annotations

import hashlib
import io
import os
import random
import time
from pathlib import Path

import pytest

from greenlight.core.errors import InvalidInput, NotFound, TooLarge, VerificationFailed
from greenlight.store.blobs import CHUNK, BlobRef, BlobStore

NOISE = random.Random(0).randbytes(3 * CHUNK + 17)  # spans several chunks


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def flip_a_byte(path: Path, at: int) -> None:
    os.chmod(path, 0o600)  # blobs are stored read-only
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


class BrokenUpload(io.BytesIO):
    """A client that sends some bytes, then drops the connection."""

    def __init__(self, before_failing: int) -> None:
        super().__init__()
        self.left = before_failing

    def read(self, size: int | None = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        n = self.left if size is None or size < 0 else min(size, self.left)
        self.left -= n
        return b"x" * n


class EndlessUpload(io.BytesIO):
    """A client that never stops sending; counts what the store asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None and size >= 0, "reading an endless upload to the end"
        self.sent += size
        return bytes(size)


# Storing and reading.


@pytest.mark.parametrize("data", [b"", b"one take", NOISE], ids=["empty", "small", "multi-chunk"])
def test_stored_bytes_read_back_unchanged(store: BlobStore, data: bytes) -> None:
    ref = store.put_bytes(data, media_type="application/octet-stream")

    assert ref == BlobRef(hashlib.sha256(data).hexdigest(), len(data), "application/octet-stream")
    assert store.read_bytes(ref.sha256) == data
    assert store.size(ref.sha256) == len(data)
    assert store.exists(ref.sha256)


def test_a_blob_lives_under_its_hash(store: BlobStore, tmp_path: Path) -> None:
    ref = store.put_bytes(b"plate 010", media_type="image/x-exr")
    h = ref.sha256

    expected = tmp_path / "blobs" / "sha256" / h[:2] / h[2:4] / h
    assert store.path(h) == expected
    assert files_under(tmp_path / "blobs") == [expected]


def test_the_same_bytes_are_stored_once(store: BlobStore, tmp_path: Path) -> None:
    first = store.put_bytes(NOISE, media_type="audio/wav")
    second = store.put_stream(io.BytesIO(NOISE), media_type="audio/wav", max_bytes=len(NOISE))

    assert first == second
    assert files_under(tmp_path / "blobs") == [store.path(first.sha256)]


def test_a_file_on_disk_is_stored_like_its_bytes(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "take.wav"
    source.write_bytes(NOISE)

    assert store.put_file(source, media_type="audio/wav", max_bytes=len(NOISE)) == (
        store.put_bytes(NOISE, media_type="audio/wav")
    )


def test_an_upload_that_fails_midway_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(ConnectionResetError):
        store.put_stream(BrokenUpload(2 * CHUNK + 5), media_type="video/mp4", max_bytes=10 * CHUNK)

    assert files_under(tmp_path / "blobs") == []


def test_an_oversized_upload_is_refused_early_and_leaves_nothing(
    store: BlobStore, tmp_path: Path
) -> None:
    upload = EndlessUpload()
    with pytest.raises(TooLarge) as caught:
        store.put_stream(upload, media_type="video/mp4", max_bytes=2 * CHUNK + 5)

    assert caught.value.code == "blob.too_large"
    assert caught.value.status == 413
    assert upload.sent == 2 * CHUNK + 6  # one byte past the limit, no more
    assert files_under(tmp_path / "blobs") == []


def test_an_upload_of_exactly_the_limit_is_accepted(store: BlobStore) -> None:
    ref = store.put_stream(io.BytesIO(NOISE), media_type="video/mp4", max_bytes=len(NOISE))

    assert ref.size == len(NOISE)


# Verify on read.


def test_a_flipped_byte_on_disk_is_caught_when_read_whole(store: BlobStore) -> None:
    ref = store.put_bytes(NOISE, media_type="image/tiff")
    flip_a_byte(store.path(ref.sha256), at=CHUNK + 3)

    with pytest.raises(VerificationFailed) as caught:
        store.read_bytes(ref.sha256)
    assert caught.value.code == "blob.corrupt"
    with pytest.raises(VerificationFailed):
        store.verify(ref.sha256)


def test_a_flipped_byte_on_disk_is_caught_while_streaming(store: BlobStore) -> None:
    ref = store.put_bytes(NOISE, media_type="video/mp4")
    flip_a_byte(store.path(ref.sha256), at=10)
    received = bytearray()

    with store.open(ref.sha256) as reader, pytest.raises(VerificationFailed):
        for chunk in reader.chunks(64 * 1024):
            received += chunk

    # The damaged copy never reaches the client whole.
    assert len(received) < len(NOISE)


def test_a_reader_that_stops_at_the_known_length_is_still_protected(store: BlobStore) -> None:
    ref = store.put_bytes(b"0123456789", media_type="text/plain")

    with store.open(ref.sha256) as reader:
        assert reader.read(ref.size) == b"0123456789"

    flip_a_byte(store.path(ref.sha256), at=9)
    with store.open(ref.sha256) as reader, pytest.raises(VerificationFailed):
        reader.read(ref.size)


def test_a_good_blob_verifies(store: BlobStore) -> None:
    ref = store.put_bytes(NOISE, media_type="audio/wav")

    store.verify(ref.sha256)


def test_uploading_the_same_bytes_again_heals_a_truncated_copy(store: BlobStore) -> None:
    ref = store.put_bytes(NOISE, media_type="audio/wav")
    path = store.path(ref.sha256)
    os.chmod(path, 0o600)
    os.truncate(path, 100)

    store.put_bytes(NOISE, media_type="audio/wav")

    assert store.read_bytes(ref.sha256) == NOISE


# Names, absence and removal.

BAD_HASHES = [
    "",
    "../../../../etc/passwd",
    "A" * 64,
    "a" * 63,
    "a" * 65,
    "a" * 64 + "\n",
    "g" * 64,
    "aa/bb/" + "a" * 58,
]


@pytest.mark.parametrize("bad", BAD_HASHES)
def test_a_malformed_hash_is_refused_everywhere(store: BlobStore, bad: str) -> None:
    for use in (store.path, store.exists, store.open, store.read_bytes, store.size, store.delete):
        with pytest.raises(InvalidInput) as caught:
            use(bad)
        assert caught.value.code == "blob.bad_hash"


def test_a_blob_never_stored_is_not_found(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never uploaded").hexdigest()

    assert not store.exists(missing)
    for use in (store.open, store.read_bytes, store.size, store.verify):
        with pytest.raises(NotFound) as caught:
            use(missing)
        assert caught.value.code == "blob.not_found"


def test_a_deleted_blob_is_gone_and_deleting_again_is_harmless(store: BlobStore) -> None:
    ref = store.put_bytes(b"rolled back", media_type="text/plain")

    store.delete(ref.sha256)
    store.delete(ref.sha256)

    assert not store.exists(ref.sha256)
    assert store.put_bytes(b"rolled back", media_type="text/plain") == ref  # can come back


def test_sweeping_removes_only_stale_temp_files(store: BlobStore, tmp_path: Path) -> None:
    ref = store.put_bytes(b"kept", media_type="text/plain")
    tmp = tmp_path / "blobs" / "tmp"
    stale, fresh = tmp / "put-crashed", tmp / "put-in-progress"
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"still arriving")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    assert store.sweep_tmp() == 1

    assert not stale.exists()
    assert fresh.exists()
    assert store.exists(ref.sha256)


def test_sweeping_a_new_store_finds_nothing(store: BlobStore) -> None:
    assert store.sweep_tmp() == 0
