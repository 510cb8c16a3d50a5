"""Signing in: API tokens, browser sessions and their CSRF token, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from greenlight.api import create_app
from tests.api.studio import API, PASSWORD, Studio, error_code


def test_nobody_gets_in_without_credentials(studio: Studio) -> None:
    anonymous = studio.client()
    response = anonymous.get(f"{API}/productions")
    assert response.status_code == 401
    assert error_code(response) == "auth.required"
    assert response.headers["www-authenticate"] == "Bearer"

    forged = anonymous.get(f"{API}/productions", headers={"Authorization": "Bearer glt_forged"})
    assert forged.status_code == 401
    assert error_code(forged) == "auth.bad_token"
    basic = anonymous.get(f"{API}/productions", headers={"Authorization": "Basic YWRhOmFkYQ=="})
    assert basic.status_code == 401
    assert error_code(basic) == "auth.bad_scheme"


def test_a_wrong_password_is_refused_like_an_unknown_email(studio: Studio) -> None:
    browser = studio.client()
    wrong = browser.post(
        f"{API}/auth/login",
        json={"email": "showrunner@studio.example", "password": "not the password"},
    )
    unknown = browser.post(
        f"{API}/auth/login", json={"email": "nobody@studio.example", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert error_code(wrong) == error_code(unknown) == "auth.bad_credentials"
    assert wrong.json()["error"]["message"] == unknown.json()["error"]["message"]
    assert "set-cookie" not in wrong.headers


def test_a_browser_session_needs_its_csrf_token_to_change_anything(studio: Studio) -> None:
    browser = studio.client()
    signed_in = browser.post(
        f"{API}/auth/login", json={"email": "showrunner@studio.example", "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    cookie = signed_in.headers["set-cookie"]
    assert "greenlight_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    csrf = signed_in.json()["csrf_token"]

    me = browser.get(f"{API}/auth/me").json()  # reading needs no CSRF token
    assert me["person"]["email"] == "showrunner@studio.example"
    assert [m["role"] for m in me["memberships"]] == ["showrunner"]
    assert me["csrf_token"] == csrf

    shot = {"code": "NL_101_010", "frame_in": 1001, "frame_out": 1096}
    url = f"{API}/productions/{studio.production_id}/shots"
    without = browser.post(url, json=shot)
    assert without.status_code == 403
    assert error_code(without) == "auth.csrf"
    wrong = browser.post(url, json=shot, headers={"X-CSRF-Token": "guessed"})
    assert error_code(wrong) == "auth.csrf"
    # The showrunner passes CSRF and reaches the role check: shots are the producer's.
    right = browser.post(url, json=shot, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 403
    assert error_code(right) == "access.cannot_manage"

    token = browser.post(
        f"{API}/auth/tokens", json={"name": "edit bay"}, headers={"X-CSRF-Token": csrf}
    )
    assert token.status_code == 201


def test_signing_out_ends_the_session(studio: Studio) -> None:
    browser = studio.client()
    csrf = browser.post(
        f"{API}/auth/login", json={"email": "artist@studio.example", "password": PASSWORD}
    ).json()["csrf_token"]
    assert error_code(browser.post(f"{API}/auth/logout")) == "auth.csrf"
    out = browser.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    after = browser.get(f"{API}/auth/me")
    assert after.status_code == 401
    assert error_code(after) == "auth.required"  # the cookie was cleared too
    assert browser.post(f"{API}/auth/logout").status_code == 204  # already out: fine


def test_a_bearer_token_needs_no_csrf_token_and_stops_working_once_revoked(
    studio: Studio,
) -> None:
    artist = studio.client("artist")
    made = artist.post(f"{API}/auth/tokens", json={"name": "render farm script"})
    assert made.status_code == 201
    raw, record = made.json()["token"], made.json()["record"]
    assert raw.startswith("glt_")

    script = studio.client()
    script.headers["Authorization"] = f"Bearer {raw}"
    assert script.get(f"{API}/auth/me").json()["person"]["id"] == studio.people["artist"]
    assert script.get(f"{API}/auth/me").json()["csrf_token"] is None

    listed = artist.get(f"{API}/auth/tokens").json()
    assert {t["name"] for t in listed} == {"artist laptop", "render farm script"}
    assert all("token" not in t for t in listed)

    someone_else = studio.client("vfx_supervisor").delete(f"{API}/auth/tokens/{record['id']}")
    assert someone_else.status_code == 404
    assert error_code(someone_else) == "token.not_found"
    revoked = artist.delete(f"{API}/auth/tokens/{record['id']}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = script.get(f"{API}/auth/me")
    assert refused.status_code == 401
    assert error_code(refused) == "auth.bad_token"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_the_session_cookie_is_secure_except_over_http_on_loopback(sqlite_studio: Studio) -> None:
    app = create_app(sqlite_studio.platform)  # secure_cookies left to the address
    login = {"email": "artist@studio.example", "password": PASSWORD}
    for base_url, secure in (
        ("http://127.0.0.1", False),
        ("http://localhost:8000", False),
        ("https://greenlight.studio.example", True),
        ("http://greenlight.studio.example", True),  # behind a TLS proxy: browsers see https
    ):
        response = TestClient(app, base_url=base_url).post(f"{API}/auth/login", json=login)
        assert response.status_code == 200
        assert ("Secure" in response.headers["set-cookie"]) is secure, base_url
