"""The post-edit page: an editor changes a translated line in a plain form, sees its
history, accepts from there (the memory learns the lines) and reads the figures."""

from __future__ import annotations

from fastapi.testclient import TestClient

from greenlight.localization import memory, post_edit
from greenlight.localization.post_edit import char_distance
from tests.localization.subtitled import subtitle_output, translated_in_review
from tests.web.conftest import Studio, csrf, sign_in


def test_request_page_links_a_translated_subtitle_output_to_its_post_edit_page(
    studio: Studio, browser: TestClient
) -> None:
    detail = translated_in_review(studio, who="ada")
    out = subtitle_output(detail)
    sign_in(browser, studio.email("sam"))

    page = browser.get(f"/requests/{detail.request.id}")
    link = f"/requests/{detail.request.id}/post-edit?output={out.id}"
    assert link in page.text

    edit_page = browser.get(link)
    assert edit_page.status_code == 200
    assert "script-src" not in edit_page.headers["content-security-policy"]
    assert "<script" not in edit_page.text
    for text in ("Where is the ship?", "Dónde es el barco?", "00:00:00:23", "Save line"):
        assert text in edit_page.text
    assert (
        edit_page.text.count('action="/requests/' + detail.request.id + '/post-edit/events"') == 3
    )


def test_a_reviewer_changes_a_line_through_the_form_and_sees_its_history(
    studio: Studio, browser: TestClient
) -> None:
    detail = translated_in_review(studio, who="ada")
    out = subtitle_output(detail)
    sign_in(browser, studio.email("sam"))
    url = f"/requests/{detail.request.id}/post-edit?output={out.id}"
    token = csrf(browser.get(url).text)

    sent = browser.post(
        f"/requests/{detail.request.id}/post-edit/events",
        data={
            "csrf_token": token,
            "output": out.id,
            "event": "1",
            "text": "¿Dónde está\r\nla nave?",
            "seen": "Dónde es el barco?",
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"].endswith("done=edited#event-1")

    after = browser.get(sent.headers["location"].split("#")[0])
    assert "Your change is recorded." in after.text
    assert "¿Dónde está\nla nave?" in after.text
    assert "Sam Supervisor" in after.text
    assert "1 change" in after.text
    moved = char_distance("Dónde es el barco?", "¿Dónde está la nave?")
    assert f"{moved} characters, 4 words" in after.text

    edited = browser.get(f"/requests/{detail.request.id}/post-edit/{out.id}/edited")
    assert edited.status_code == 200
    assert "¿Dónde está\nla nave?" in edited.content.decode()
    assert "ep1.es.edited.srt" in edited.headers["content-disposition"]


def test_an_artist_reads_the_lines_but_cannot_change_them(
    studio: Studio, browser: TestClient
) -> None:
    detail = translated_in_review(studio, who="ada")
    out = subtitle_output(detail)
    sign_in(browser, studio.email("ada"))
    page = browser.get(f"/requests/{detail.request.id}/post-edit")
    assert page.status_code == 200
    assert "Save line" not in page.text
    assert "you can read the lines" in page.text

    refused = browser.post(
        f"/requests/{detail.request.id}/post-edit/events",
        data={"csrf_token": csrf(page.text), "output": out.id, "event": "1", "text": "Hola"},
    )
    assert refused.status_code == 403
    assert "post_edit.not_editor" in refused.text


def test_a_form_without_its_token_or_with_a_bad_event_changes_nothing(
    studio: Studio, browser: TestClient
) -> None:
    detail = translated_in_review(studio, who="ada")
    out = subtitle_output(detail)
    sign_in(browser, studio.email("sam"))
    url = f"/requests/{detail.request.id}/post-edit"
    token = csrf(browser.get(url).text)

    forged = browser.post(f"{url}/events", data={"output": out.id, "event": "1", "text": "¿Dónde?"})
    assert forged.status_code == 403 and "web.csrf_failed" in forged.text
    bad = browser.post(
        f"{url}/events",
        data={"csrf_token": token, "output": out.id, "event": "9", "text": "¿Dónde?"},
    )
    assert bad.status_code == 422 and "post_edit.bad_event" in bad.text
    not_a_number = browser.post(
        f"{url}/events",
        data={"csrf_token": token, "output": out.id, "event": "first", "text": "¿Dónde?"},
    )
    assert not_a_number.status_code == 422 and "web.bad_form" in not_a_number.text
    with studio.platform.db.read() as conn:
        assert post_edit.edits_for(conn, detail.request.id) == []


def test_accepting_from_the_post_edit_page_teaches_the_memory_and_the_figures_show_it(
    studio: Studio, browser: TestClient
) -> None:
    detail = translated_in_review(studio, who="ada")
    out = subtitle_output(detail)
    request_id = detail.request.id
    sign_in(browser, studio.email("rita"))
    url = f"/requests/{request_id}/post-edit"
    token = csrf(browser.get(url).text)
    browser.post(
        f"{url}/events",
        data={"csrf_token": token, "output": out.id, "event": "1", "text": "¿Dónde está la nave?"},
    )

    accepted = browser.post(f"{url}/review", data={"csrf_token": token, "verdict": "accept"})
    assert accepted.status_code == 303
    assert studio.detail(request_id).request.state == "accepted"
    with studio.platform.db.read() as conn:
        hits = memory.lookup(conn, studio.production.id, "en", "es", ["Where is the ship?"])
    assert [h.translation for h in hits] == ["¿Dónde está la nave?"]
    closed = browser.get(url)
    assert "Save line" not in closed.text and "only while it is in review" in closed.text

    figures = browser.get(f"/productions/{studio.production.id}/localization")
    assert figures.status_code == 200
    assert "<dt>Events</dt><dd>3</dd>" in figures.text
    assert "<dt>Events edited</dt><dd>1</dd>" in figures.text
    assert "66.7%" in figures.text
