"""The blob store and the upload checks, on real files in a temp directory."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import time
import unicodedata
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from greenlight.core.errors import InvalidInput, NotFound, TooLarge, VerificationFailed
from greenlight.store.blobs import (
    CHUNK,
    BlobRef,
    BlobStore,
    check_image,
    safe_filename,
    sniff_media_type,
)
from tests.expect import refused

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


def test_a_young_store_makes_its_first_level_folders_all_at_once(
    store: BlobStore, tmp_path: Path
) -> None:
    fan_out = tmp_path / "blobs" / "sha256"

    first = store.put_bytes(b"plate 010", media_type="image/x-exr")
    made = sorted(p.name for p in fan_out.iterdir())
    second = store.put_bytes(b"plate 020", media_type="image/x-exr")

    assert made == [f"{i:02x}" for i in range(256)]
    assert sorted(p.name for p in fan_out.iterdir()) == made
    assert [p.name for p in (fan_out / second.sha256[:2]).iterdir()] == [second.sha256[2:4]]
    assert store.read_bytes(first.sha256) == b"plate 010"
    assert store.read_bytes(second.sha256) == b"plate 020"


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


def test_a_file_moved_in_is_stored_under_its_hash_and_leaves_its_place(
    store: BlobStore, tmp_path: Path
) -> None:
    signed = tmp_path / "shot_010_v2.png"
    signed.write_bytes(NOISE)
    ref = store.put_moved(signed, media_type="image/png")
    assert ref == BlobRef(hashlib.sha256(NOISE).hexdigest(), len(NOISE), "image/png")
    assert not signed.exists()
    assert store.read_bytes(ref.sha256) == NOISE
    assert store.path(ref.sha256).stat().st_mode & 0o777 == 0o440  # read-only, as every blob
    assert files_under(store.root / "tmp") == []  # no copy was made


def test_moving_in_bytes_already_stored_keeps_the_blob_and_drops_the_file(
    store: BlobStore, tmp_path: Path
) -> None:
    ref = store.put_bytes(b"one take", media_type="text/plain")
    again = tmp_path / "again.txt"
    again.write_bytes(b"one take")
    assert store.put_moved(again, media_type="text/plain") == ref
    assert not again.exists() and store.read_bytes(ref.sha256) == b"one take"


def test_a_link_is_never_moved_in(store: BlobStore, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_bytes(b"not ours")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(OSError):
        store.put_moved(link, media_type="text/plain")
    assert target.read_bytes() == b"not ours" and files_under(store.root) == []


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

    with refused("blob.corrupt", VerificationFailed):
        store.read_bytes(ref.sha256)
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
        with refused("blob.bad_hash", InvalidInput):
            use(bad)


def test_a_blob_never_stored_is_not_found(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never uploaded").hexdigest()

    assert not store.exists(missing)
    for use in (store.open, store.read_bytes, store.size, store.verify):
        with refused("blob.not_found", NotFound):
            use(missing)


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


# File names.


@pytest.mark.parametrize(
    "name",
    [
        "shot_010_v2.exr",
        "Scène 12 — take 3.mov",
        ".notes.json",
        "reel..final.srt",
        "日本語字幕.vtt",
        "a" * 255,
    ],
)
def test_a_plain_file_name_is_kept(name: str) -> None:
    assert safe_filename(name) == name


def test_a_file_name_is_normalised_to_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Scène.mov")

    assert safe_filename(decomposed) == "Scène.mov"
    assert len(safe_filename(decomposed)) == len("Scène.mov")


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../secrets.txt",
        "plates/shot.exr",
        "/etc/passwd",
        "..\\..\\boot.ini",
        "C:\\Windows\\evil.dll",
        "c:evil.exe",
        "nul\x00.png",
        "line\nbreak.srt",
        "bell\x07.wav",
        "del\x7f.wav",
        "invoice\u202egnp.exe",  # shows as "invoiceexe.png"
        "a" * 256,
        "é" * 128,  # 128 characters, 256 bytes
        "\udcff.png",  # an undecodable byte smuggled through surrogateescape
    ],
)
def test_a_dangerous_file_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        safe_filename(name)

    assert caught.value.code == "upload.bad_filename"


# Media types.


def pillow_image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(out, fmt)
    return out.getvalue()


def wav_file() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(b"\x00\x00" * 480)
    return out.getvalue()


def ftyp(brand: bytes) -> bytes:
    # An ISO media file starts with a box: 32-bit size, "ftyp", brand, version, brands.
    return struct.pack(">I4s4sI4s4s", 24, b"ftyp", brand, 0, brand, b"isom") + b"\x00" * 16


SAMPLES: dict[str, tuple[Callable[[], bytes], str]] = {
    "png": (lambda: pillow_image("PNG"), "image/png"),
    "jpeg": (lambda: pillow_image("JPEG"), "image/jpeg"),
    "webp": (lambda: pillow_image("WEBP"), "image/webp"),
    "tiff": (lambda: pillow_image("TIFF"), "image/tiff"),
    "wav": (wav_file, "audio/wav"),
    "mp3-id3": (
        lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(64),
        "audio/mpeg",
    ),
    "mp3-frame": (lambda: b"\xff\xfb\x90\x64" + bytes(413), "audio/mpeg"),
    "mp4": (lambda: ftyp(b"isom"), "video/mp4"),
    "m4a": (lambda: ftyp(b"M4A "), "audio/mp4"),
    "mov": (lambda: ftyp(b"qt  "), "video/quicktime"),
    "exr": (lambda: b"v/1\x01\x02\x00\x00\x00channels\x00chlist\x00", "image/x-exr"),
    "srt": (
        lambda: "\ufeff1\r\n00:00:01,000 --> 00:00:02,500\r\nBonjour.\r\n".encode(),
        "application/x-subrip",
    ),
    "vtt": (lambda: b"WEBVTT\n\n00:01.000 --> 00:02.500\nHello.\n", "text/vtt"),
    "ttml": (
        lambda: (
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="en"><body/></tt>'
        ),
        "application/ttml+xml",
    ),
    "json": (lambda: b'  {"shot": "010", "take": 3}', "application/json"),
}


@pytest.mark.parametrize("kind", SAMPLES)
def test_each_accepted_format_is_recognised_by_its_content(kind: str) -> None:
    make, media_type = SAMPLES[kind]
    head = make()[:4096]

    assert sniff_media_type(head, None) == media_type
    assert sniff_media_type(head, media_type) == media_type
    assert sniff_media_type(head, "application/octet-stream") == media_type


@pytest.mark.parametrize(
    ("kind", "declared", "result"),
    [
        ("jpeg", "image/jpg", "image/jpeg"),
        ("wav", "audio/x-wav", "audio/wav"),
        ("png", "IMAGE/PNG; charset=binary", "image/png"),
        ("srt", "text/plain", "application/x-subrip"),
        ("mp4", "audio/mp4", "audio/mp4"),  # an M4A may carry a generic brand
        ("m4a", "audio/x-m4a", "audio/mp4"),
    ],
)
def test_common_spellings_of_a_declared_type_are_accepted(
    kind: str, declared: str, result: str
) -> None:
    assert sniff_media_type(SAMPLES[kind][0](), declared) == result


@pytest.mark.parametrize(
    ("kind", "declared"),
    [
        ("png", "image/jpeg"),
        ("png", "application/pdf"),
        ("wav", "video/mp4"),
        ("png", "text/plain"),
    ],
)
def test_a_declared_type_that_contradicts_the_content_is_refused(kind: str, declared: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        sniff_media_type(SAMPLES[kind][0](), declared)

    assert caught.value.code == "upload.type_mismatch"


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"MZ\x90\x00\x03\x00\x00\x00",
        bytes(range(256)),
        b"just some notes",
        b"\xff\xf1\x50\x80",
    ],
    ids=["empty", "windows-exe", "binary", "plain-text", "aac-adts"],
)
def test_content_of_an_unknown_type_is_refused(head: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        sniff_media_type(head, "image/png")

    assert caught.value.code == "upload.unsupported_type"


# Images.


def save(image: Image.Image, path: Path, fmt: str) -> Path:
    image.save(path, fmt)
    return path


def noisy_image() -> Image.Image:
    return Image.frombytes("RGB", (64, 64), random.Random(1).randbytes(64 * 64 * 3))


@pytest.fixture(scope="module")
def huge_blank_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 400 million pixels in about 50 KB: far over twice Pillow's own limit.
    return save(Image.new("1", (20_000, 20_000)), tmp_path_factory.mktemp("bomb") / "b.png", "PNG")


def test_a_sound_image_reports_its_size(tmp_path: Path) -> None:
    path = save(noisy_image(), tmp_path / "still.png", "PNG")

    assert check_image(path) == (64, 64)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path: Path) -> None:
    path = save(Image.new("1", (3000, 3000)), tmp_path / "big.png", "PNG")

    with pytest.raises(InvalidInput) as caught:
        check_image(path, max_pixels=1_000_000)

    assert caught.value.code == "upload.decompression_bomb"
    assert check_image(path, max_pixels=9_000_000) == (3000, 3000)


def test_an_image_just_over_pillows_limit_is_refused_even_if_ours_is_higher(
    tmp_path: Path,
) -> None:
    path = save(Image.new("1", (10_000, 10_000)), tmp_path / "big.png", "PNG")

    with pytest.raises(InvalidInput) as caught:
        check_image(path, max_pixels=10**10)

    assert caught.value.code == "upload.decompression_bomb"


def test_a_decompression_bomb_is_refused(huge_blank_png: Path) -> None:
    for limit in (80_000_000, 10**12):
        with refused("upload.decompression_bomb", InvalidInput):
            check_image(huge_blank_png, max_pixels=limit)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_image_is_refused(tmp_path: Path, fmt: str) -> None:
    path = save(noisy_image(), tmp_path / "cut", fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(InvalidInput) as caught:
        check_image(path)

    assert caught.value.code == "upload.corrupt"


def test_a_png_with_a_bad_checksum_is_refused(tmp_path: Path) -> None:
    path = save(noisy_image(), tmp_path / "bad.png", "PNG")
    data = bytearray(path.read_bytes())
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    data[idat + 4 + length] ^= 0x01  # the chunk's CRC: pixels still decode, verify() notices
    path.write_bytes(bytes(data))

    with pytest.raises(InvalidInput) as caught:
        check_image(path)

    assert caught.value.code == "upload.corrupt"


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not pixels")

    with pytest.raises(InvalidInput) as caught:
        check_image(path)

    assert caught.value.code == "upload.corrupt"
