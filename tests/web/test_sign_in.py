"""Signing in and out, and the pages' refusal to work without a session."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from greenlight.web import SESSION_COOKIE
from greenlight.web._session import safe_next
from tests.web.conftest import PASSWORD, Studio, csrf, sign_in


def test_login_then_see_productions(studio: Studio, browser: TestClient) -> None:
    studio.in_review()

    assert sign_in(browser, studio.email("sam")) == "/"
    home = browser.get("/")

    assert home.status_code == 200, home.text
    assert "Signed in as <strong>Sam Supervisor</strong>" in home.text
    assert f'<a href="/productions/{studio.production.id}/requests">NL</a>' in home.text
    assert "<td>Northern Lights</td>" in home.text
    assert "<td>vfx supervisor</td>" in home.text
    assert '<a href="/review">1 request waits for your review</a>' in home.text


def test_wrong_password_stays_on_login_with_401(studio: Studio, browser: TestClient) -> None:
    form = browser.get("/login")
    reply = browser.post(
        "/login",
        data={
            "email": studio.email("sam"),
            "password": PASSWORD + "!",
            "next": "/review",
            "csrf_token": csrf(form.text),
        },
    )

    assert reply.status_code == 401
    assert "Email or password is wrong; check both and try again." in reply.text
    assert f'value="{studio.email("sam")}"' in reply.text  # the email is kept
    assert 'name="next" value="/review"' in reply.text
    assert SESSION_COOKIE not in browser.cookies
    assert browser.get("/").status_code == 303


def test_pages_redirect_to_login(studio: Studio, browser: TestClient) -> None:
    detail = studio.in_review()
    page = f"/requests/{detail.request.id}"

    for path, back in [
        ("/", "/login"),
        ("/review", "/login?next=%2Freview"),
        (f"{page}?done=accept", f"/login?next=%2Frequests%2F{detail.request.id}%3Fdone%3Daccept"),
        (
            f"/productions/{studio.production.id}/requests",
            f"/login?next=%2Fproductions%2F{studio.production.id}%2Frequests",
        ),
    ]:
        reply = browser.get(path)
        assert (reply.status_code, reply.headers["location"]) == (303, back)

    # A form posted without a session does nothing and goes to sign in too.
    posted = browser.post(f"{page}/review", data={"verdict": "accept", "csrf_token": "x"})
    assert (posted.status_code, posted.headers["location"]) == (303, "/login")
    assert studio.detail(detail.request.id).request.state == "in_review"

    # After signing in, the browser comes back to the page it asked for.
    assert sign_in(browser, studio.email("sam"), next_path=page) == page
    assert detail.request.id in browser.get(page).text


def test_a_stale_session_cookie_is_dropped_on_the_way_to_login(
    studio: Studio, browser: TestClient
) -> None:
    browser.cookies.set(SESSION_COOKIE, "not-a-session")

    reply = browser.get("/")

    assert reply.status_code == 303
    assert f'{SESSION_COOKIE}=""' in reply.headers["set-cookie"]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/phish",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/review\r\nSet-Cookie: x=1",
        "evil.example",
    ],
)
def test_open_redirect_refused(studio: Studio, browser: TestClient, target: str) -> None:
    form = browser.get("/login", params={"next": target})
    assert 'name="next" value="/"' in form.text

    reply = browser.post(
        "/login",
        data={
            "email": studio.email("sam"),
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf(form.text),
        },
    )

    assert (reply.status_code, reply.headers["location"]) == (303, "/")


def test_only_paths_on_this_site_are_next_targets() -> None:
    assert safe_next("/review?done=accept") == "/review?done=accept"
    assert safe_next("/requests/req_1#outputs") == "/requests/req_1#outputs"
    assert safe_next(None) == safe_next("") == safe_next("//x") == safe_next("http:/x") == "/"


def test_login_form_needs_its_own_token(studio: Studio, browser: TestClient) -> None:
    # A page elsewhere posting someone's credentials has neither the cookie nor the token.
    reply = browser.post(
        "/login", data={"email": studio.email("sam"), "password": PASSWORD, "csrf_token": "forged"}
    )

    assert reply.status_code == 403
    assert "web.csrf_failed" in reply.text
    assert SESSION_COOKIE not in browser.cookies


def test_sign_out_ends_the_session(studio: Studio, browser: TestClient) -> None:
    sign_in(browser, studio.email("ada"))
    home = browser.get("/")
    old_cookie = browser.cookies[SESSION_COOKIE]

    refused = browser.post("/logout", data={})
    assert refused.status_code == 403  # no CSRF token, no sign-out

    out = browser.post("/logout", data={"csrf_token": csrf(home.text)})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert SESSION_COOKIE not in browser.cookies

    browser.cookies.set(SESSION_COOKIE, old_cookie)  # replaying the old cookie gets nowhere
    assert browser.get("/").status_code == 303


def test_session_cookie_is_httponly_lax_and_secure_off_loopback(
    studio: Studio, browser: TestClient
) -> None:
    def session_cookie(client: TestClient) -> str:
        form = client.get("/login")
        data = {"email": studio.email("ada"), "password": PASSWORD, "csrf_token": csrf(form.text)}
        reply = client.post("/login", data=data)
        assert reply.status_code == 303
        return next(
            c for c in reply.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "=")
        )

    local = session_cookie(browser)  # http://localhost
    assert "HttpOnly" in local and "SameSite=lax" in local and "Path=/" in local
    assert "Secure" not in local

    with TestClient(
        browser.app, base_url="https://gl.studio.example", follow_redirects=False
    ) as remote:
        cookie = session_cookie(remote)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie

    # Plain http to a real host (a TLS proxy in front): still never in the clear.
    with TestClient(browser.app, base_url="http://gl.studio.example") as proxied:
        assert "Secure" in proxied.get("/login").headers["set-cookie"]


def test_stylesheet_is_served_and_nothing_else(browser: TestClient) -> None:
    css = browser.get("/static/greenlight.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ".badge" in css.text

    assert browser.get("/static/missing.css").status_code == 404
    assert browser.get("/static/..%2F_render.py").status_code == 404
