"""A quarantined request's page shows the likeness findings and their evidence frames."""

from __future__ import annotations

from fastapi.testclient import TestClient

from greenlight.engine import requests, runs
from greenlight.likeness import enroll
from tests.likeness import photos
from tests.web.conftest import Studio, browser, sign_in, studio

__all__ = ["browser", "studio"]  # the web tests' fixtures, used here by name


def test_the_request_page_shows_an_undeclared_performer_and_the_evidence_frame(
    studio: Studio, browser: TestClient
) -> None:
    p = studio.platform
    enroll(
        p.db,
        p.blobs,
        p.settings.keys_dir,
        studio.access("legal"),
        studio.consented.id,
        photos=[("maya.png", photos.png(photos.astronaut()))],
    )
    plate = studio.upload_plate("ada", data=photos.png(photos.astronaut()))
    submitted = requests.submit(p, studio.access("ada"), studio.cleanup(plate))
    ran = runs.run_request(p, submitted.request.id)
    assert ran.request.state == "quarantined"
    sign_in(browser, studio.email("ada"))

    text = browser.get(f"/requests/{ran.request.id}").text

    assert '<h2 id="likeness">Likeness scan</h2>' in text
    assert f"Maya Okafor <code>{studio.consented.id}</code>" in text
    assert '<strong class="bad-text">not covered</strong>' in text
    link = text.split('href="/requests/')[-1]
    assert "/evidence" in link
    evidence = browser.get("/requests/" + link.split('"')[0])
    assert evidence.status_code == 200 and evidence.headers["content-type"] == "image/png"
    assert evidence.content.startswith(b"\x89PNG")
    missing = browser.get(f"/requests/{ran.request.id}/likeness/lkf_nope/evidence")
    assert missing.status_code == 404
