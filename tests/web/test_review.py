"""Approving, reviewing and delivering from the pages, and the forms' CSRF guard."""

from __future__ import annotations

from fastapi.testclient import TestClient

from greenlight.engine import runs
from tests.web.conftest import Studio, csrf, sign_in


def test_reviewer_accepts_from_queue(studio: Studio, browser: TestClient) -> None:
    detail = studio.in_review(prompt="paint out the rig wire on the pier")
    request_id = detail.request.id
    sign_in(browser, studio.email("sam"))

    queue = browser.get("/review")
    assert queue.status_code == 200
    assert f'<a href="/requests/{request_id}">NL · vfx cleanup</a>' in queue.text
    assert '<blockquote class="prompt">paint out the rig wire on the pier</blockquote>' in (
        queue.text
    )
    assert f'<img src="/api/v1/assets/{detail.outputs[0].id}/content"' in queue.text
    assert f'action="/requests/{request_id}/review"' in queue.text

    reply = browser.post(
        f"/requests/{request_id}/review",
        data={"csrf_token": csrf(queue.text), "verdict": "accept", "note": "", "back": "review"},
    )
    assert (reply.status_code, reply.headers["location"]) == (303, "/review?done=accept")

    after = browser.get(reply.headers["location"])
    assert '<p class="notice notice--good" role="status">Accepted.' in after.text
    assert "Nothing waits for your review." in after.text
    reviewed = studio.detail(request_id)
    assert reviewed.request.state == "accepted"
    assert [(r.reviewer_id, r.verdict) for r in reviewed.reviews] == [
        (studio.people["sam"].id, "accept")
    ]

    # Accepted work can now be delivered from its page.
    page = browser.get(f"/requests/{request_id}")
    assert 'action="/requests/' + request_id + '/delivery"' in page.text
    delivered = browser.post(
        f"/requests/{request_id}/delivery",
        data={"csrf_token": csrf(page.text), "destination": "editorial", "note": "for the cut"},
    )
    assert delivered.headers["location"] == f"/requests/{request_id}?done=delivered"
    page = browser.get(delivered.headers["location"])
    assert "<dt>Delivered to</dt><dd>editorial</dd>" in page.text
    assert "<code>delivery.made</code>" in page.text


def test_form_without_csrf_is_refused(studio: Studio, browser: TestClient) -> None:
    detail = studio.in_review()
    request_id = detail.request.id
    sign_in(browser, studio.email("sam"))

    for data in (
        {"verdict": "accept"},
        {"verdict": "accept", "csrf_token": ""},
        {"verdict": "accept", "csrf_token": "forged-by-another-site"},
    ):
        reply = browser.post(f"/requests/{request_id}/review", data=data)
        assert reply.status_code == 403
        assert "<code>web.csrf_failed</code>" in reply.text
        assert "Reload the page and submit the form again." in reply.text

    # Another person's token is no good either: tokens belong to sessions.
    with TestClient(browser.app, base_url="http://localhost", follow_redirects=False) as other:
        sign_in(other, studio.email("rita"))
        rita_token = csrf(other.get("/").text)
    reply = browser.post(
        f"/requests/{request_id}/review", data={"verdict": "accept", "csrf_token": rita_token}
    )
    assert reply.status_code == 403

    assert studio.detail(request_id).request.state == "in_review"
    assert studio.detail(request_id).reviews == ()


def test_artist_sees_no_accept_button_on_final_deliverable(
    studio: Studio, browser: TestClient
) -> None:
    submitted = studio.submit(intent="final_deliverable")
    request_id = submitted.request.id
    page_path = f"/requests/{request_id}"

    # The showrunner approves it in writing from the page; then it runs.
    sign_in(browser, studio.email("rita"))
    page = browser.get(page_path)
    assert 'name="decision" value="approve"' in page.text
    approved = browser.post(
        f"{page_path}/approval",
        data={"csrf_token": csrf(page.text), "decision": "approve", "note": "Go ahead."},
    )
    assert approved.headers["location"] == f"{page_path}?done=approved"
    after = browser.get(approved.headers["location"]).text
    assert "Your approval is recorded." in after
    # The sign-off table names who approved, in which role, and what they wrote.
    assert '<span class="badge badge--good">approved</span>' in after
    assert "<td>Go ahead.</td>" in after and "<td>showrunner</td>" in after
    assert runs.run_request(studio.platform, request_id).request.state == "in_review"

    # The artist who asked may not review at all.
    sign_in(browser, studio.email("ada"))
    page = browser.get(page_path).text
    assert "in review" in page
    assert 'value="accept"' not in page
    assert f'action="{page_path}/review"' not in page

    # The supervisor reviews, but only a creative lead accepts a final deliverable.
    sign_in(browser, studio.email("sam"))
    page = browser.get(page_path).text
    assert 'value="accept"' not in page
    assert 'name="verdict" value="reject"' in page
    assert 'name="verdict" value="changes_requested"' in page
    assert "only the production&#39;s showrunner or director can accept it" in page
    queue = browser.get("/review").text
    assert request_id in queue and 'value="accept"' not in queue

    # The showrunner gets the accept button.
    sign_in(browser, studio.email("rita"))
    assert 'name="verdict" value="accept"' in browser.get(page_path).text


def test_requester_is_told_someone_else_must_approve(studio: Studio, browser: TestClient) -> None:
    submitted = studio.submit(intent="final_deliverable", who="rita")
    sign_in(browser, studio.email("rita"))

    page = browser.get(f"/requests/{submitted.request.id}").text

    assert 'name="decision"' not in page
    assert "You asked for this work, so someone else must approve it." in page


def test_a_refused_step_shows_its_error_on_the_page(studio: Studio, browser: TestClient) -> None:
    detail = studio.in_review()
    request_id = detail.request.id
    sign_in(browser, studio.email("sam"))
    page = browser.get(f"/requests/{request_id}")

    reply = browser.post(
        f"/requests/{request_id}/review",
        data={"csrf_token": csrf(page.text), "verdict": "reject", "note": "   "},
    )

    assert reply.status_code == 422
    assert '<div class="notice notice--bad" role="alert">' in reply.text
    assert "Say what is wrong or what to change in the note." in reply.text
    assert "<code>review.note_required</code>" in reply.text
    assert f'action="/requests/{request_id}/review"' in reply.text  # the form is still there
    assert studio.detail(request_id).request.state == "in_review"

    # A step the state no longer allows is a 409 page, not a 500.
    browser.post(
        f"/requests/{request_id}/review",
        data={"csrf_token": csrf(page.text), "verdict": "accept"},
    )
    again = browser.post(
        f"/requests/{request_id}/review",
        data={"csrf_token": csrf(page.text), "verdict": "accept"},
    )
    assert again.status_code == 409
    assert "<code>review.not_in_review</code>" in again.text

    # A verdict the engine does not know is a 422 page.
    odd = browser.post(
        f"/requests/{request_id}/review",
        data={"csrf_token": csrf(page.text), "verdict": "maybe"},
    )
    assert odd.status_code == 422
    assert "<code>web.bad_form</code>" in odd.text
