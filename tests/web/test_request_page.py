"""A request's page: what was asked, why it was allowed, what came out, and its record."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from greenlight.web import _home
from tests.web.conftest import Studio, csrf, sign_in


def test_request_page_shows_decision_outputs_credentials_and_ledger(
    studio: Studio, browser: TestClient
) -> None:
    detail = studio.in_review(prompt="paint out the rig wire over the harbour")
    request = detail.request
    output = detail.outputs[0]
    run = detail.job.runs[0] if detail.job else None
    assert run is not None and detail.decision is not None
    sign_in(browser, studio.email("sam"))

    page = browser.get(f"/requests/{request.id}")

    assert page.status_code == 200
    text = page.text
    # What was asked.
    assert "<h1>vfx cleanup for Northern Lights</h1>" in text
    assert '<pre class="prompt">paint out the rig wire over the harbour</pre>' in text
    assert "OpenCV inpaint 4" in text
    assert "Ada Artist" in text  # who asked, by name
    assert f'href="/api/v1/assets/{request.inputs[0].asset_id}/content"' in text
    assert "&#34;regions&#34;" in text  # the parameters, as JSON
    # The policy decision.
    assert '<span class="badge badge--good">allow</span>' in text
    assert "<code>proceeds-on-disclosure</code>" in text
    assert f"<code>{detail.decision.policy_version}</code>" in text
    assert html.escape(detail.decision.reasons[0]) in text
    assert "nothing beyond the use case and intent" in text  # no declaration made
    assert "the policy document (every fact the decision depended on)" in text
    assert "&#34;allowed_on_production&#34;: true" in text  # from the stored document
    # The prompt log.
    assert f"<dd>{run.model}</dd>" in text
    assert f"<dd>{run.model_version}</dd>" in text
    # The output, its preview and its content credentials.
    assert f'<img class="preview" src="/api/v1/assets/{output.id}/content"' in text
    assert f'alt="Output {output.filename}"' in text
    assert f'<code class="hash">{output.sha256}</code>' in text
    assert '<span class="badge badge--good">Trusted</span>' in text
    assert "<caption>Governance assertion</caption>" in text
    assert f"<td><code>{request.id}</code></td>" in text
    assert "(matches the prompt above)" in text
    assert "<code>c2pa.opened</code>" in text and "<code>c2pa.edited</code>" in text
    # The ledger timeline, each entry linked to the API.
    assert [e.event_type for e in detail.events][:2] == ["request.submitted", "policy.allowed"]
    for event in detail.events:
        assert f'<a href="/api/v1/ledger/entries/{event.index}">{event.index}</a>' in text
        assert f"<code>{event.event_type}</code>" in text
        assert f'<code class="hash">{event.leaf_hash}</code>' in text
    # A supervisor may review temporary work, so the whole verdict form is there.
    assert 'name="verdict" value="accept"' in text
    assert 'name="verdict" value="reject"' in text


def test_unreadable_credentials_show_a_message_not_a_500(
    studio: Studio, browser: TestClient
) -> None:
    detail = studio.in_review()
    output = detail.outputs[0]
    studio.platform.blobs.path(output.sha256).unlink()
    sign_in(browser, studio.email("sam"))

    page = browser.get(f"/requests/{detail.request.id}")

    assert page.status_code == 200
    assert f"The credentials could not be read: The stored bytes of {output.filename}" in page.text
    assert "<code>web.output_unreadable</code>" in page.text


def test_html_escapes_user_text(studio: Studio, browser: TestClient) -> None:
    prompt = "<script>alert('wire')</script> & <b>bold</b>"
    detail = studio.in_review(prompt=prompt)
    sign_in(browser, studio.email("sam"))
    page = browser.get(f"/requests/{detail.request.id}")

    # A change request whose note carries markup is escaped as well.
    reply = browser.post(
        f"/requests/{detail.request.id}/review",
        data={
            "csrf_token": csrf(page.text),
            "verdict": "changes_requested",
            "note": '"><img src=x onerror=alert(1)>',
        },
    )
    assert reply.status_code == 303
    page = browser.get(reply.headers["location"])

    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;wire&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in (
        page.text
    )
    assert "<img src=x" not in page.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # no script at all
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_vendor_cannot_open_other_vendors_request(studio: Studio, browser: TestClient) -> None:
    detail = studio.in_review()  # made with the studio's own tool, not the vendor's
    sign_in(browser, studio.email("vic"))

    page = browser.get(f"/requests/{detail.request.id}")

    assert page.status_code == 403
    assert "<h1>Not allowed</h1>" in page.text
    assert "belongs to work by another vendor or the studio" in page.text
    assert "<code>access.other_vendor</code>" in page.text
    assert "paint out the rig wire" not in page.text
    listing = browser.get(f"/productions/{studio.production.id}/requests")
    assert listing.status_code == 200
    assert detail.request.id not in listing.text


def test_unknown_request_and_foreign_production_are_error_pages(
    studio: Studio, browser: TestClient
) -> None:
    sign_in(browser, studio.email("ada"))

    missing = browser.get("/requests/req_01JD3Q8Z5W8M6T4V9K2X7N1R0P")
    assert missing.status_code == 404
    assert "<code>request.not_found</code>" in missing.text

    foreign = browser.get("/productions/prod_01JD3Q8Z5W8M6T4V9K2X7N1R0P/requests")
    assert foreign.status_code == 403
    assert "<code>access.no_role</code>" in foreign.text


def test_production_list_filters_by_state(studio: Studio, browser: TestClient) -> None:
    older = studio.in_review()
    newer = studio.submit(intent="final_deliverable")  # waits for a creative lead
    sign_in(browser, studio.email("ada"))
    base = f"/productions/{studio.production.id}/requests"

    everything = browser.get(base).text
    assert older.request.id in everything and newer.request.id in everything
    assert '<span class="badge badge--review">in review</span>' in everything
    assert '<span class="badge badge--wait">awaiting approval</span>' in everything

    waiting = browser.get(base, params={"state": "awaiting_approval"}).text
    assert newer.request.id in waiting and older.request.id not in waiting
    assert '<option value="awaiting_approval" selected>' in waiting

    bad = browser.get(base, params={"state": "finished"})
    assert bad.status_code == 422
    assert "<code>web.bad_state</code>" in bad.text


def test_production_list_pages_with_the_engine_cursor(
    studio: Studio, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_home, "PAGE_SIZE", 1)
    older = studio.submit()
    newer = studio.submit()
    sign_in(browser, studio.email("ada"))
    base = f"/productions/{studio.production.id}/requests"

    first = browser.get(base).text
    assert newer.request.id in first and older.request.id not in first
    second_link = f"{base}?state=&amp;cursor={newer.request.id}"
    assert f'<a href="{second_link}" rel="next">Older requests</a>' in first

    second = browser.get(html.unescape(second_link)).text
    assert older.request.id in second and newer.request.id not in second
    assert "Older requests" not in second
