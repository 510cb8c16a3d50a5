"""Uploading and downloading assets over HTTP (SQLite)."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import func, select

from greenlight.api.routes.assets import content_disposition
from greenlight.store.schema import assets
from tests.api.studio import (
    API,
    Studio,
    blob_files,
    bomb_png,
    error_code,
    plate_png,
    upload,
)


def _asset_rows(studio: Studio) -> int:
    with studio.platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(assets)).scalar())


def test_the_same_plate_uploaded_twice_is_one_asset(sqlite_studio: Studio) -> None:
    artist = sqlite_studio.client("artist")
    first = upload(artist, sqlite_studio.production_id, plate_png())
    assert first.status_code == 201
    asset = first.json()
    assert asset["media_type"] == "image/png" and asset["origin"] == "upload"
    again = upload(artist, sqlite_studio.production_id, plate_png(), filename="plate_v2.png")
    assert again.status_code == 200
    assert again.json()["id"] == asset["id"]
    assert artist.get(f"{API}/assets/{asset['id']}").json() == asset
    assert _asset_rows(sqlite_studio) == 1


def test_an_oversized_upload_is_413_and_leaves_nothing_behind(sqlite_studio: Studio) -> None:
    sqlite_studio.platform.max_upload = 4096
    artist = sqlite_studio.client("artist")
    # Over the upload limit but within the multipart allowance: the blob store refuses it.
    over = upload(artist, sqlite_studio.production_id, plate_png(width=640, height=480))
    assert over.status_code == 413
    assert error_code(over) == "blob.too_large"
    # Far over: refused by its Content-Length before a byte is read.
    far_over = upload(artist, sqlite_studio.production_id, b"\0" * (2 << 20), "plate.exr")
    assert far_over.status_code == 413
    assert error_code(far_over) == "input.too_large"
    assert _asset_rows(sqlite_studio) == 0
    assert blob_files(sqlite_studio) == []


def test_a_path_in_the_file_name_is_refused(sqlite_studio: Studio) -> None:
    response = upload(
        sqlite_studio.client("artist"),
        sqlite_studio.production_id,
        plate_png(),
        filename="../../etc/passwd",
    )
    assert response.status_code == 422
    assert error_code(response) == "upload.bad_filename"
    assert _asset_rows(sqlite_studio) == 0


def test_a_decompression_bomb_is_refused_from_its_header(sqlite_studio: Studio) -> None:
    response = upload(sqlite_studio.client("artist"), sqlite_studio.production_id, bomb_png())
    assert response.status_code == 422
    assert error_code(response) == "upload.decompression_bomb"
    assert _asset_rows(sqlite_studio) == 0
    assert blob_files(sqlite_studio) == []


def test_an_upload_without_a_file_part_says_how_to_send_one(sqlite_studio: Studio) -> None:
    response = sqlite_studio.client("artist").post(
        f"{API}/productions/{sqlite_studio.production_id}/assets",
        files={"plate": ("plate.png", plate_png(), "image/png")},
    )
    assert response.status_code == 422
    assert error_code(response) == "upload.no_file"


def test_only_people_who_may_submit_upload(sqlite_studio: Studio) -> None:
    for who, code in (("auditor", "access.read_only"), ("outsider", "access.no_role")):
        response = upload(sqlite_studio.client(who), sqlite_studio.production_id, plate_png())
        assert response.status_code == 403
        assert error_code(response) == code
    anonymous = upload(sqlite_studio.client(), sqlite_studio.production_id, plate_png())
    assert anonymous.status_code == 401
    assert _asset_rows(sqlite_studio) == 0


def test_a_retried_upload_with_its_key_is_replayed(sqlite_studio: Studio) -> None:
    artist = sqlite_studio.client("artist")
    key = {"Idempotency-Key": "nl-plate-7"}
    first = upload(artist, sqlite_studio.production_id, plate_png(), headers=key)
    second = upload(artist, sqlite_studio.production_id, plate_png(), headers=key)
    assert first.status_code == second.status_code == 201  # the first answer, replayed
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    other = upload(artist, sqlite_studio.production_id, plate_png(seed=3), headers=key)
    assert other.status_code == 422
    assert error_code(other) == "idempotency.key_reused"


def test_a_download_names_the_file_even_outside_ascii(sqlite_studio: Studio) -> None:
    artist = sqlite_studio.client("artist")
    name = "plåt_fjord_010.png"
    asset = upload(artist, sqlite_studio.production_id, plate_png(), filename=name).json()
    download = artist.get(f"{API}/assets/{asset['id']}/content")
    assert download.status_code == 200
    assert download.content == plate_png()
    assert download.headers["content-disposition"] == (
        f"attachment; filename=\"pl_t_fjord_010.png\"; filename*=UTF-8''{quote(name)}"
    )
    assert download.headers["x-content-type-options"] == "nosniff"
    assert content_disposition('say "cut".png') == 'attachment; filename="say _cut_.png"; ' + (
        "filename*=UTF-8''say%20%22cut%22.png"
    )


def test_an_upload_has_no_sidecar_and_no_credentials(sqlite_studio: Studio) -> None:
    artist = sqlite_studio.client("artist")
    asset = upload(artist, sqlite_studio.production_id, plate_png()).json()
    sidecar = artist.get(f"{API}/assets/{asset['id']}/manifest")
    assert sidecar.status_code == 404
    assert error_code(sidecar) == "asset.no_sidecar"
    credentials = artist.get(f"{API}/assets/{asset['id']}/credentials")
    assert credentials.status_code == 422
    assert error_code(credentials) == "provenance.no_credentials"
    assert str(sqlite_studio.platform.settings.data_dir) not in credentials.text
    assert credentials.json()["error"]["message"].startswith("plate.png carries no")
    missing = artist.get(f"{API}/assets/ast_01JD3Q8Z5W8M6T4V9K2X7N1R0P/content")
    assert missing.status_code == 404
    assert error_code(missing) == "asset.not_found"
