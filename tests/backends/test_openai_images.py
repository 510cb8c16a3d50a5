"""The openai-images backend against a real HTTP server on loopback speaking the API."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from greenlight.backends import BackendInput, BackendResult, backend_for
from greenlight.backends.openai_images import OpenAIImagesBackend
from greenlight.core.enums import RequestState
from greenlight.core.models import RequestDraft
from greenlight.core.settings import HttpPolicy, OpenAIImagesSettings, Settings
from greenlight.engine import assets, requests, runs
from greenlight.engine.platform import Platform
from tests.backends.servers import FakeOpenAI, Upload, assert_distinct_pngs, png
from tests.expect import refused_as
from tests.world import build_world

KEY = "sk-test-0123456789abcdefGREENLIGHT"
FAST = HttpPolicy(connect_timeout=1, read_timeout=3, retries=3, backoff=0.001, max_wait=0.05)


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as server:
        yield server


def configured(
    server: FakeOpenAI, tmp_path: Path, *, http: HttpPolicy = FAST, **changes: Any
) -> OpenAIImagesBackend:
    """The backend pointed at ``server`` with ``changes`` to its settings."""
    service = OpenAIImagesSettings(base_url=server.base_url, api_key=KEY, time_limit=5)
    settings = Settings(
        data_dir=tmp_path,
        database_url="sqlite://",
        http=http,
        openai_images=replace(service, **changes),
    )
    return OpenAIImagesBackend(settings)


def generate(
    backend: OpenAIImagesBackend,
    out_dir: Path,
    inputs: list[BackendInput] | None = None,
    **parameters: Any,
) -> BackendResult:
    parameters.setdefault("prompt", "a lighthouse in a snowstorm, wide shot")
    return backend.run(inputs or [], parameters, out_dir)


def leftovers(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []


def image_input(tmp_path: Path, name: str, data: bytes, part: str = "image") -> BackendInput:
    path = tmp_path / name
    path.write_bytes(data)
    return BackendInput(path=path, part=part, media_type="image/png")


def grey_mask(width: int, height: int, box: tuple[int, int, int, int]) -> bytes:
    """The house mask: white where the image should change, black elsewhere."""
    pixels = np.zeros((height, width), dtype=np.uint8)
    x, y, w, h = box
    pixels[y : y + h, x : x + w] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, format="PNG")
    return buffer.getvalue()


# What a studio asks for.


def test_a_prompt_becomes_two_png_variants(openai: FakeOpenAI, tmp_path: Path) -> None:
    backend = configured(openai, tmp_path)
    result = generate(backend, tmp_path / "out", n=2, size="64x48")

    assert result.kind == "generated" and result.seed is None
    assert result.model == "gpt-image-1" and result.parameters["model"] == "gpt-image-1"
    assert [o.path.name for o in result.outputs] == ["generated_1.png", "generated_2.png"]
    assert_distinct_pngs(result.outputs, (64, 48))  # variants, not one image twice
    assert leftovers(tmp_path / "out") == ["generated_1.png", "generated_2.png"]

    (sent,) = openai.calls("generations")
    assert sent.path == "/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {
        "model": "gpt-image-1",
        "prompt": "a lighthouse in a snowstorm, wide shot",
        "n": 2,
        "size": "64x48",
    }  # GPT image models refuse response_format: they always answer in base64
    assert result.usage["endpoint"] == "generations"
    assert result.usage["images"] == 2 and result.usage["sizes"] == ["64x48", "64x48"]
    assert result.usage["http_attempts"] == 1 and result.usage["http_retries"] == 0


def test_the_backend_is_registered_and_says_data_leaves_the_studio() -> None:
    backend = backend_for("openai-images")
    assert backend.capabilities.remote is True
    assert backend.capabilities.seeded is False
    assert {"text_to_image", "inpaint"} <= set(backend.capabilities.tasks)


def test_dall_e_and_compatible_models_are_asked_for_base64(
    openai: FakeOpenAI, tmp_path: Path
) -> None:
    generate(configured(openai, tmp_path, model="dall-e-3"), tmp_path / "out", quality="hd")
    (sent,) = openai.calls("generations")
    assert sent.json()["response_format"] == "b64_json"
    assert sent.json()["model"] == "dall-e-3" and sent.json()["quality"] == "hd"


def test_an_edit_sends_the_plate_and_the_mask_in_the_apis_terms(
    openai: FakeOpenAI, tmp_path: Path
) -> None:
    plate = png(80, 60, "plate")
    inputs = [
        image_input(tmp_path, "sh010_plate.png", plate),
        image_input(tmp_path, "sh010_mask.png", grey_mask(80, 60, (10, 20, 30, 5)), "mask"),
    ]
    result = generate(
        configured(openai, tmp_path), tmp_path / "out", inputs, prompt="remove the boom mic"
    )

    assert result.kind == "edited"
    (output,) = result.outputs
    assert output.path.name == "sh010_plate_edit_1.png" and output.parents == (0, 1)
    with Image.open(output.path) as image:
        assert image.size == (80, 60)

    (sent,) = openai.calls("edits")
    form = sent.form()
    assert form["prompt"] == ["remove the boom mic"] and form["model"] == ["gpt-image-1"]
    assert form["n"] == ["1"]
    (image,) = form["image"]
    assert isinstance(image, Upload) and image.data == plate
    assert image.filename == "sh010_plate.png" and image.content_type == "image/png"
    (mask,) = form["mask"]
    assert isinstance(mask, Upload)
    with Image.open(io.BytesIO(mask.data)) as sent_mask:
        alpha = np.asarray(sent_mask.convert("RGBA"))[..., 3]
    # The API changes fully transparent pixels: exactly the white box of our mask.
    assert (alpha[20:25, 10:40] == 0).all()
    assert int((alpha == 0).sum()) == 30 * 5


def test_a_mask_that_has_alpha_is_sent_as_it_is(openai: FakeOpenAI, tmp_path: Path) -> None:
    rgba = np.full((32, 32, 4), 255, dtype=np.uint8)
    rgba[4:8, 4:8, 3] = 0
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    inputs = [
        image_input(tmp_path, "plate.png", png(32, 32, "p")),
        image_input(tmp_path, "mask.png", buffer.getvalue(), "mask"),
    ]
    generate(configured(openai, tmp_path), tmp_path / "out", inputs)
    (mask,) = openai.calls("edits")[0].form()["mask"]
    assert isinstance(mask, Upload) and mask.data == buffer.getvalue()


def test_several_reference_images_go_as_an_image_list(openai: FakeOpenAI, tmp_path: Path) -> None:
    inputs = [image_input(tmp_path, f"ref{k}.png", png(40, 40, f"r{k}")) for k in range(3)]
    result = generate(configured(openai, tmp_path), tmp_path / "out", inputs, n=2)
    assert len(result.outputs) == 2 and result.outputs[0].parents == (0, 1, 2)
    form = openai.calls("edits")[0].form()
    assert "image" not in form and len(form["image[]"]) == 3


@pytest.mark.parametrize(
    ("card", "usage", "cost", "basis"),
    [
        ({"gpt-image-1": {"per_image": "0.04"}}, None, Decimal("0.12"), "per_image"),
        (
            {
                "gpt-image-1": {
                    "per_image": "0.04",
                    "input_tokens_per_million": "5",
                    "output_tokens_per_million": "40",
                }
            },
            {"input_tokens": 100, "output_tokens": 5000, "total_tokens": 5100},
            Decimal("0.2005"),
            "tokens",
        ),
        (
            {"gpt-image-1": {"per_image": "0.04"}},
            {"cost": 0.5, "total_tokens": 1},
            Decimal("0.5"),
            "reported",
        ),
        ({"dall-e-3": {"per_image": "0.08"}}, None, None, None),
    ],
    ids=["rate card per image", "rate card per token", "cost the service reported", "no price"],
)
def test_the_cost_comes_from_the_service_or_the_rate_card(
    openai: FakeOpenAI,
    tmp_path: Path,
    card: dict[str, dict[str, str]],
    usage: dict[str, Any] | None,
    cost: Decimal | None,
    basis: str | None,
) -> None:
    openai.usage = usage
    prices = {model: {k: Decimal(v) for k, v in entry.items()} for model, entry in card.items()}
    result = generate(configured(openai, tmp_path, rate_card=prices), tmp_path / "out", n=3)
    assert result.cost_usd == cost
    assert result.usage["cost_basis"] == basis
    if usage is not None:
        assert result.usage["service_usage"] == usage


def test_progress_is_reported_to_the_end(openai: FakeOpenAI, tmp_path: Path) -> None:
    heard: list[tuple[float, str]] = []
    configured(openai, tmp_path).run(
        [], {"prompt": "storyboard"}, tmp_path / "out", progress=lambda f, s: heard.append((f, s))
    )
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert heard[-1][1] == "1 image(s) written"


# When the vendor's service fails.


def test_a_rate_limit_is_waited_out_as_the_service_asks(openai: FakeOpenAI, tmp_path: Path) -> None:
    openai.fail("generations", "rate_limited")
    openai.retry_after_ms = "150"
    http = replace(FAST, max_wait=2.0)
    started = time.monotonic()
    result = generate(configured(openai, tmp_path, http=http), tmp_path / "out")
    assert time.monotonic() - started >= 0.15  # retry-after-ms honoured, not our 1 ms backoff
    assert len(openai.calls("generations")) == 2
    assert result.usage["http_retries"] == 1 and result.usage["http_retry_reasons"] == ["429"]
    assert len(result.outputs) == 1


def test_a_long_retry_after_is_capped(openai: FakeOpenAI, tmp_path: Path) -> None:
    openai.fail("generations", "rate_limited", "rate_limited")
    openai.retry_after = "30"
    started = time.monotonic()
    result = generate(configured(openai, tmp_path), tmp_path / "out")
    assert time.monotonic() - started < 2  # waited max_wait (0.05 s) twice, not 60 s
    assert result.usage["http_retries"] == 2


def test_a_server_error_is_tried_again(openai: FakeOpenAI, tmp_path: Path) -> None:
    openai.fail("generations", "server_error")
    result = generate(configured(openai, tmp_path), tmp_path / "out")
    assert result.usage["http_retry_reasons"] == ["500"]
    assert len(openai.calls("generations")) == 2 and len(result.outputs) == 1


def test_a_rate_limit_that_never_lifts_fails_after_the_retries(
    openai: FakeOpenAI, tmp_path: Path
) -> None:
    openai.fail("generations", *["rate_limited"] * 10)
    with refused_as("backend.openai-images.rate_limited"):
        generate(configured(openai, tmp_path), tmp_path / "out")
    assert len(openai.calls("generations")) == FAST.retries + 1
    assert leftovers(tmp_path / "out") == []


def test_a_service_that_keeps_failing_is_unavailable(openai: FakeOpenAI, tmp_path: Path) -> None:
    openai.fail("generations", *["server_error"] * 10)
    with refused_as("backend.openai-images.unavailable"):
        generate(configured(openai, tmp_path), tmp_path / "out")
    assert len(openai.calls("generations")) == FAST.retries + 1


def test_a_wrong_key_is_refused_at_once_and_never_shown(tmp_path: Path) -> None:
    with FakeOpenAI(api_key="sk-the-right-one-000000") as openai:
        backend = configured(openai, tmp_path)
        with refused_as("backend.openai-images.unauthorized") as caught:
            generate(backend, tmp_path / "out")
        assert len(openai.calls("generations")) == 1  # no retry: it cannot help
    error = caught.value
    assert "GREENLIGHT_OPENAI_API_KEY" in error.message
    assert KEY not in json.dumps(error.to_dict()) and KEY[:12] not in error.message
    assert leftovers(tmp_path / "out") == []


def test_an_exhausted_quota_is_not_retried(openai: FakeOpenAI, tmp_path: Path) -> None:
    openai.fail("generations", "quota")
    with refused_as("backend.openai-images.quota_exhausted") as caught:
        generate(configured(openai, tmp_path), tmp_path / "out")
    assert "exceeded your current quota" in caught.value.message
    assert len(openai.calls("generations")) == 1


def test_a_key_echoed_in_an_error_is_redacted(openai: FakeOpenAI, tmp_path: Path) -> None:
    openai.fail("generations", "echo_key")
    with refused_as("backend.openai-images.rejected") as caught:
        generate(configured(openai, tmp_path), tmp_path / "out")
    assert "Invalid size for key [redacted]" in caught.value.message
    assert KEY not in json.dumps(caught.value.to_dict())
    assert len(openai.calls("generations")) == 1


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("garbage", "not JSON"),
        ("wrong_shape", "no 'data' list"),
        ("truncated", "damaged or cut short"),
        ("url", "as a URL instead of base64"),
    ],
)
def test_a_response_that_makes_no_sense_fails_the_run_and_keeps_nothing(
    openai: FakeOpenAI, tmp_path: Path, mode: str, said: str
) -> None:
    openai.fail("generations", mode)
    with refused_as("backend.openai-images.bad_response") as caught:
        generate(configured(openai, tmp_path), tmp_path / "out", n=2)
    assert said in caught.value.message
    assert leftovers(tmp_path / "out") == []
    assert len(openai.calls("generations")) == 1  # a bad answer is not retried (it was billed)


def test_a_service_that_hangs_is_given_up_at_the_time_limit(
    openai: FakeOpenAI, tmp_path: Path
) -> None:
    openai.fail("generations", "hang")
    started = time.monotonic()
    with refused_as("backend.openai-images.timed_out") as caught:
        generate(configured(openai, tmp_path, time_limit=0.5), tmp_path / "out")
    assert 0.45 <= time.monotonic() - started < 2
    assert "GREENLIGHT_OPENAI_TIME_LIMIT" in caught.value.message
    assert leftovers(tmp_path / "out") == []


def test_a_service_nobody_answers_at_is_unreachable(tmp_path: Path) -> None:
    with FakeOpenAI(api_key=KEY) as gone:
        address = gone.base_url  # a port that was free, and is closed again below
    service = OpenAIImagesSettings(base_url=address, api_key=KEY, time_limit=5)
    backend = OpenAIImagesBackend(
        Settings(data_dir=tmp_path, database_url="sqlite://", http=FAST, openai_images=service)
    )
    with refused_as("backend.openai-images.unreachable"):
        generate(backend, tmp_path / "out")


def test_without_a_key_the_run_says_which_setting_to_fill(
    openai: FakeOpenAI, tmp_path: Path
) -> None:
    with refused_as("backend.openai-images.not_configured") as caught:
        generate(configured(openai, tmp_path, api_key=None), tmp_path / "out")
    assert "GREENLIGHT_OPENAI_API_KEY" in caught.value.message
    assert openai.received == []


def test_the_key_appears_nowhere_in_what_a_run_records(openai: FakeOpenAI, tmp_path: Path) -> None:
    backend = configured(openai, tmp_path)
    result = generate(backend, tmp_path / "out")
    recorded = json.dumps(
        {"parameters": result.parameters, "usage": result.usage, "model": result.model},
        default=str,
    )
    assert KEY not in recorded
    assert KEY not in repr(backend.settings) and KEY not in repr(result)
    assert openai.seen(KEY)  # it did go to the service, as a header


# What is refused before anything is queued.


@pytest.mark.parametrize(
    ("parameters", "code", "said"),
    [
        ({}, "bad_parameter", "'prompt' is required"),
        ({"prompt": "  "}, "bad_parameter", "'prompt' is empty"),
        ({"prompt": "x", "n": 11}, "bad_parameter", "'n' must be from 1 to 10"),
        ({"prompt": "x", "size": "big"}, "bad_parameter", "'size' must be WIDTHxHEIGHT"),
        ({"prompt": "x", "quality": "ultra"}, "bad_parameter", "'quality' must be one of"),
        ({"prompt": "x", "api_key": "sk-other"}, "bad_parameter", "Unknown parameter api_key"),
    ],
)
def test_bad_parameters_are_refused_up_front(
    tmp_path: Path, parameters: dict[str, Any], code: str, said: str
) -> None:
    backend = OpenAIImagesBackend(Settings(data_dir=tmp_path, database_url="sqlite://"))
    with refused_as(f"backend.openai-images.{code}") as caught:
        backend.check([], parameters)
    assert said in caught.value.message


def test_a_mask_must_match_its_image(tmp_path: Path) -> None:
    backend = OpenAIImagesBackend(Settings(data_dir=tmp_path, database_url="sqlite://"))
    inputs = [
        image_input(tmp_path, "plate.png", png(64, 64, "p")),
        image_input(tmp_path, "mask.png", grey_mask(32, 32, (0, 0, 4, 4)), "mask"),
    ]
    with refused_as("backend.openai-images.mask_size_mismatch"):
        backend.check(inputs, {"prompt": "x"})
    with refused_as("backend.openai-images.mask_without_image"):
        backend.check(inputs[1:], {"prompt": "x"})
    with refused_as("backend.openai-images.unexpected_input"):
        backend.check([replace(inputs[0], part="plate")], {"prompt": "x"})


def test_settings_come_from_the_environment_and_hide_the_key(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "GREENLIGHT_DATA_DIR": str(tmp_path),
            "GREENLIGHT_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "GREENLIGHT_OPENAI_API_KEY": KEY,
            "GREENLIGHT_OPENAI_MODEL": "dall-e-3",
            "GREENLIGHT_OPENAI_RATE_CARD": '{"dall-e-3": {"per_image": "0.08"}}',
            "GREENLIGHT_OPENAI_TIME_LIMIT": "90",
            "GREENLIGHT_HTTP_RETRIES": "2",
            "GREENLIGHT_HTTP_BACKOFF": "0.25",
        }
    )
    assert settings.openai_images.api_key == KEY and KEY not in repr(settings)
    assert settings.openai_images.rate_card == {"dall-e-3": {"per_image": Decimal("0.08")}}
    assert settings.openai_images.time_limit == 90 and settings.http.retries == 2
    assert settings.http.backoff == 0.25
    assert OpenAIImagesBackend(settings).check([], {"prompt": "x"})["model"] == "dall-e-3"
    with refused_as("settings.bad_value"):
        Settings.from_env({"GREENLIGHT_HTTP_RETRIES": "many"})
    with refused_as("settings.bad_value"):
        Settings.from_env({"GREENLIGHT_OPENAI_RATE_CARD": '{"m": {"per_image": -1}}'})


# Through the whole lifecycle.


def test_storyboard_frames_from_a_vendor_api_are_run_signed_and_put_up_for_review(
    openai: FakeOpenAI, tmp_path: Path
) -> None:
    # The worker finds the service the way an installation configures it.
    settings = Settings.from_env(
        {
            "GREENLIGHT_DATA_DIR": str(tmp_path),
            "GREENLIGHT_OPENAI_BASE_URL": openai.base_url,
            "GREENLIGHT_OPENAI_API_KEY": KEY,
            "GREENLIGHT_OPENAI_RATE_CARD": '{"gpt-image-1": {"per_image": "0.04"}}',
            "GREENLIGHT_HTTP_BACKOFF": "0.001",
        }
    )
    openai.fail("generations", "rate_limited")  # the vendor is busy at first
    platform = Platform.open(settings)
    try:
        world = build_world(platform)
        frames = world.add_tool(
            "Lumen Frames",
            version="2025-06",
            hosting="vendor_enclosed",
            backend="openai-images",
            use_cases=["previs"],
        )
        prompt = "storyboard: the lighthouse keeper climbs the stairs, low angle"
        draft = RequestDraft.model_validate(
            {
                "production_id": world.production.id,
                "use_case": "previs",
                "tool_id": frames.id,
                "intent": "ideation",
                "prompt": prompt,
                "parameters": {"n": 2, "size": "64x48"},  # the request's prompt is sent
            }
        )
        submitted = requests.submit(platform, world.access("artist"), draft)
        assert submitted.request.state is RequestState.QUEUED

        ran = runs.run_request(platform, submitted.request.id)

        assert ran.request.state is RequestState.IN_REVIEW
        assert len(ran.outputs) == 2
        for output in ran.outputs:
            assert output.media_type == "image/png"
            report = assets.credentials(platform, output)
            assert report.trusted  # signed with the studio's content credentials
        run = ran.job.runs[-1] if ran.job else None
        assert run is not None and run.error is None
        assert run.usage["http_retries"] == 1 and run.usage["images"] == 2
        assert run.cost_usd == Decimal("0.08")
        assert KEY not in json.dumps(run.usage) and KEY not in json.dumps(run.parameters)
        assert len(openai.calls("generations")) == 2
    finally:
        platform.close()
