"""A request's page shows each run's prompt log to the people who may see the request."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient

from greenlight.engine.rate_cards import RateCardDraft, set_rate_card
from greenlight.provenance import prompt_digest
from tests.web.conftest import Studio, sign_in


def test_request_page_shows_each_runs_prompt_log(studio: Studio, browser: TestClient) -> None:
    with studio.platform.db.transaction() as conn:
        set_rate_card(
            conn,
            studio.access("legal"),
            studio.studio_tool.id,
            RateCardDraft(per_run_usd=Decimal("0.30")),
        )
    prompt = "paint out the rig wire, keep the hair"
    detail = studio.in_review(prompt=prompt)
    assert detail.job is not None
    run = detail.job.runs[0]
    sign_in(browser, studio.email("sam"))

    text = browser.get(f"/requests/{detail.request.id}").text

    assert f'<h3 id="run-{run.id}">Prompt log: run <code>{run.id}</code>' in text
    # Once as asked, once in the run's log.
    assert text.count(f'<pre class="prompt">{prompt}</pre>') == 2
    assert f'<code class="hash">{prompt_digest(prompt)}</code>' in text
    assert "OpenCV inpaint 4.14" in text and "Studio Pipeline" in text
    assert "<dt>Queue wait</dt>" in text and "<dt>GPU-seconds</dt><dd>0.000</dd>" in text
    assert 'US$0.300000 <span class="hint">(from the tool&#39;s rate card)</span>' in text
    assert f'<code class="hash">{detail.outputs[0].sha256}</code>' in text
    assert f"/api/v1/requests/{detail.request.id}/prompt-log?format=otlp" in text


def test_a_vendor_of_another_tool_sees_neither_the_page_nor_its_prompt(
    studio: Studio, browser: TestClient
) -> None:
    detail = studio.in_review(prompt="a secret plot point")
    sign_in(browser, studio.email("vic"))
    page = browser.get(f"/requests/{detail.request.id}")
    assert page.status_code == 403
    assert "a secret plot point" not in page.text
