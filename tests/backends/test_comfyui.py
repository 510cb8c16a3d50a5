"""The comfyui backend running vetted workflows on a real HTTP server speaking ComfyUI's API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from greenlight.backends import BackendInput, BackendResult, backend_for
from greenlight.backends.comfyui import ComfyUIBackend
from greenlight.core.settings import ComfyUISettings, HttpPolicy, Settings
from tests.backends.servers import FakeComfyUI, Upload, assert_distinct_pngs, png
from tests.expect import refused_as

FAST = HttpPolicy(connect_timeout=1, read_timeout=3, retries=3, backoff=0.001, max_wait=0.05)

# A text-to-image graph as ComfyUI's "Save (API)" exports it.
PREVIS_GRAPH: dict[str, Any] = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 0,
            "steps": 20,
            "cfg": 7.0,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "_meta": {"title": "KSampler"},
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl_base.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "previs", "images": ["8", 0]}},
}
PREVIS = {
    "description": "Previs frame from words",
    "graph": PREVIS_GRAPH,
    "bind": {
        "prompt": "6.text",
        "negative_prompt": "7.text",
        "seed": "3.seed",
        "steps": "3.steps",
        "width": "5.width",
        "height": "5.height",
        "variants": "5.batch_size",
    },
}
# Image to image on a plate, with a preview node ComfyUI's UI would show.
RESTYLE = {
    "graph": {
        **{k: v for k, v in PREVIS_GRAPH.items() if k != "5"},
        "3": {
            **PREVIS_GRAPH["3"],
            "inputs": {**PREVIS_GRAPH["3"]["inputs"], "latent_image": ["11", 0], "denoise": 0.4},
        },
        "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}},
        "12": {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}},
    },
    "bind": {"prompt": "6.text", "seed": ["3.seed"]},
    "inputs": {"plate": "10.image"},
}


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(polls=1) as server:
        yield server


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    """The studio's folder of vetted workflows."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "previs.json").write_text(json.dumps(PREVIS))
    (folder / "restyle.json").write_text(json.dumps(RESTYLE))
    return folder


def configured(
    server: FakeComfyUI | None, workflows: Path, *, http: HttpPolicy = FAST, **changes: Any
) -> ComfyUIBackend:
    comfyui = ComfyUISettings(
        url=server.url if server is not None else None,
        workflows_dir=workflows,
        poll_interval=0.01,
        time_limit=5,
    )
    settings = Settings(
        data_dir=workflows.parent,
        database_url="sqlite://",
        http=http,
        comfyui=replace(comfyui, **changes),
    )
    return ComfyUIBackend(settings)


def previs(
    backend: ComfyUIBackend, out_dir: Path, *, seed: int | None = None, **values: Any
) -> BackendResult:
    parameters = {
        "workflow": "previs",
        "prompt": "a lighthouse in a snowstorm, wide shot",
        "negative_prompt": "text, watermark",
        "values": {"width": 64, "height": 48, **values},
    }
    return backend.run([], parameters, out_dir, seed=seed)


def plate(tmp_path: Path, width: int = 72, height: int = 40) -> BackendInput:
    path = tmp_path / "sh020 plate.png"
    path.write_bytes(png(width, height, "plate"))
    return BackendInput(path=path, part="plate", media_type="image/png")


def leftovers(out_dir: Path) -> list[str]:
    return sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []


# What a studio asks for.


def test_a_previs_workflow_runs_with_the_prompt_seed_and_values_in_its_nodes(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    result = previs(configured(comfy, workflows), tmp_path / "out", seed=1234, variants=2)

    (submitted,) = comfy.calls("prompt")
    graph = submitted.json()["prompt"]
    assert graph["6"]["inputs"]["text"] == "a lighthouse in a snowstorm, wide shot"
    assert graph["7"]["inputs"]["text"] == "text, watermark"
    assert graph["3"]["inputs"]["seed"] == 1234
    assert graph["5"]["inputs"] == {"width": 64, "height": 48, "batch_size": 2}
    assert graph["3"]["inputs"]["steps"] == 20  # not bound by the request: the workflow's own
    assert len(comfy.calls("history")) == 2  # polled until ComfyUI had finished

    assert result.kind == "generated" and result.seed == 1234
    assert result.model == "comfyui/previs" and result.model_version.startswith("sha256:")
    assert [o.path.name for o in result.outputs] == ["previs_9_1.png", "previs_9_2.png"]
    assert_distinct_pngs(result.outputs, (64, 48))  # variants, not one image twice

    usage = result.usage
    (prompt_id,) = comfy.prompts
    assert usage["prompt_id"] == prompt_id
    assert usage["client_id"] == submitted.json()["client_id"]
    assert usage["workflow"] == "previs" and len(usage["workflow_sha256"]) == 64
    assert usage["bound_nodes"]["prompt"] == ["6.text"]
    assert list(usage["output_nodes"]) == ["9"] and len(usage["output_nodes"]["9"]) == 2
    assert usage["execution"]["status"] == "success"
    assert usage["execution"]["duration_ms"] == 1234  # from ComfyUI's own timestamps
    assert usage["http_retries"] == 0
    assert result.parameters["values"] == {"width": 64, "height": 48, "variants": 2}
    assert result.cost_usd is None


def test_without_a_seed_one_is_chosen_put_in_the_graph_and_reported(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    result = previs(configured(comfy, workflows), tmp_path / "out")
    assert result.seed is not None
    assert comfy.calls("prompt")[0].json()["prompt"]["3"]["inputs"]["seed"] == result.seed


def test_a_plate_is_uploaded_and_its_node_pointed_at_it_previews_left_out(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    backend = configured(comfy, workflows)
    result = backend.run(
        [plate(tmp_path)], {"workflow": "restyle", "prompt": "dusk grade"}, tmp_path / "out"
    )

    (upload,) = comfy.calls("upload_image")
    form = upload.form()
    assert form["type"] == ["input"] and form["subfolder"] == ["greenlight"]
    assert form["overwrite"] == ["true"]
    (image,) = form["image"]
    assert isinstance(image, Upload) and image.data == png(72, 40, "plate")
    assert image.filename.endswith("-0-sh020_plate.png")
    graph = comfy.calls("prompt")[0].json()["prompt"]
    assert graph["10"]["inputs"]["image"] == f"greenlight/{image.filename}"

    assert result.kind == "edited"
    (output,) = result.outputs  # the PreviewImage node's temp image is not a result
    assert output.parents == (0,)
    with Image.open(output.path) as made:
        assert made.size == (72, 40)
    assert [c.query["type"] for c in comfy.calls("view")] == [["output"]]
    assert result.usage["uploads"] == [f"greenlight/{image.filename}"]


def test_the_backend_is_registered_and_lists_the_workflows(workflows: Path) -> None:
    assert backend_for("comfyui").capabilities.remote is True
    backend = configured(None, workflows)
    assert backend.capabilities.extra["workflows"] == ["previs", "restyle"]
    assert backend.capabilities.seeded is True


def test_progress_is_reported_to_the_end(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    heard: list[tuple[float, str]] = []
    configured(comfy, workflows).run(
        [],
        {"workflow": "previs", "prompt": "x"},
        tmp_path / "out",
        progress=lambda f, s: heard.append((f, s)),
    )
    fractions = [f for f, _ in heard]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(stage.startswith("waiting for ComfyUI") for _, stage in heard)


# When ComfyUI fails.


def test_a_workflow_that_fails_on_the_gpu_names_the_node_and_keeps_nothing(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    comfy.fail("prompt", "execution_error")
    with refused_as("backend.comfyui.workflow_failed") as caught:
        previs(configured(comfy, workflows), tmp_path / "out")
    assert "node 3 (KSampler)" in caught.value.message
    assert "exceed allowed memory" in caught.value.message
    assert caught.value.details["exception_type"] == "torch.OutOfMemoryError"
    assert leftovers(tmp_path / "out") == []


def test_a_workflow_needing_a_missing_custom_node_is_rejected_without_retry(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    graph = json.loads(json.dumps(PREVIS_GRAPH))
    graph["8"]["class_type"] = "UltimateSDUpscale"
    (workflows / "upscale.json").write_text(json.dumps({"graph": graph, "bind": {}}))
    with refused_as("backend.comfyui.workflow_rejected") as caught:
        configured(comfy, workflows).run([], {"workflow": "upscale"}, tmp_path / "out")
    assert "UltimateSDUpscale does not exist" in caught.value.message
    assert len(comfy.calls("prompt")) == 1


def test_a_refusal_names_the_node_that_failed_validation(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    comfy.fail("upload_image", "forget")
    with refused_as("backend.comfyui.workflow_rejected") as caught:
        configured(comfy, workflows).run(
            [plate(tmp_path)], {"workflow": "restyle"}, tmp_path / "out"
        )
    assert "node 10 (LoadImage): image - Invalid image file" in caught.value.message


def test_a_server_error_is_tried_again(comfy: FakeComfyUI, workflows: Path, tmp_path: Path) -> None:
    comfy.fail("prompt", "server_error")
    comfy.fail("history", "server_error")
    result = previs(configured(comfy, workflows), tmp_path / "out")
    assert result.usage["http_retries"] == 2
    assert result.usage["http_retry_reasons"] == ["500", "500"]
    assert len(result.outputs) == 1


@pytest.mark.parametrize(
    ("route", "modes", "said"),
    [
        ("history", ("garbage",), "not JSON"),
        ("history", ("wrong_shape",), "without 'outputs' and 'status' objects"),
        ("view", ("ok", "truncated"), "damaged or cut short"),
        ("prompt", ("garbage",), "not JSON"),
    ],
    ids=["history not json", "history of the wrong shape", "second image cut short", "submit"],
)
def test_an_answer_that_makes_no_sense_fails_the_run_and_keeps_nothing(
    comfy: FakeComfyUI,
    workflows: Path,
    tmp_path: Path,
    route: str,
    modes: tuple[str, ...],
    said: str,
) -> None:
    comfy.fail(route, *modes)
    with refused_as("backend.comfyui.bad_response") as caught:
        previs(configured(comfy, workflows), tmp_path / "out", variants=2)
    assert said in caught.value.message
    assert leftovers(tmp_path / "out") == []


def test_a_workflow_that_never_finishes_times_out_and_is_withdrawn(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    comfy.fail("prompt", "never_finishes")
    started = time.monotonic()
    with refused_as("backend.comfyui.timed_out") as caught:
        previs(configured(comfy, workflows, time_limit=0.3), tmp_path / "out")
    assert 0.3 <= time.monotonic() - started < 2
    assert "GREENLIGHT_COMFYUI_TIME_LIMIT" in caught.value.message
    (prompt_id,) = comfy.prompts
    # Taken off ComfyUI's GPU: it was running, so it is interrupted, then deleted.
    assert [c.json() for c in comfy.calls("interrupt")] == [{"prompt_id": prompt_id}]
    assert [c.json() for c in comfy.calls("queue") if c.method == "POST"] == [
        {"delete": [prompt_id]}
    ]
    assert leftovers(tmp_path / "out") == []


def test_a_comfyui_that_stops_answering_times_out(
    comfy: FakeComfyUI, workflows: Path, tmp_path: Path
) -> None:
    comfy.fail("history", "hang")
    started = time.monotonic()
    with refused_as("backend.comfyui.timed_out"):
        previs(configured(comfy, workflows, time_limit=0.4), tmp_path / "out")
    assert time.monotonic() - started < 2


def test_a_comfyui_behind_an_authenticating_proxy_needs_its_key(
    workflows: Path, tmp_path: Path
) -> None:
    with FakeComfyUI(api_key="proxy-token-123456") as comfy:
        with refused_as("backend.comfyui.unauthorized") as caught:
            previs(configured(comfy, workflows), tmp_path / "refused")
        assert "GREENLIGHT_COMFYUI_API_KEY" in caught.value.message
        assert len(comfy.received) == 1
        result = previs(configured(comfy, workflows, api_key="proxy-token-123456"), tmp_path / "o")
        assert len(result.outputs) == 1
        assert "proxy-token-123456" not in json.dumps(result.usage)


def test_an_unreachable_comfyui_and_a_missing_address(workflows: Path, tmp_path: Path) -> None:
    with FakeComfyUI() as gone:
        address = gone.url
    with refused_as("backend.comfyui.unreachable"):
        previs(configured(None, workflows, url=address), tmp_path / "out")
    with refused_as("backend.comfyui.not_configured") as caught:
        previs(configured(None, workflows), tmp_path / "out")
    assert "GREENLIGHT_COMFYUI_URL" in caught.value.message


# What is refused before anything is queued.


@pytest.mark.parametrize(
    ("inputs", "parameters", "code", "said"),
    [
        ([], {"workflow": "storyboard"}, "unknown_workflow", "choose one of previs, restyle"),
        ([], {"workflow": "../previs"}, "unknown_workflow", "no ComfyUI workflow"),
        ([], {}, "bad_parameter", "'workflow' is required"),
        ([], {"workflow": "previs", "values": {"cfg": 3}}, "bad_parameter", "nothing bound"),
        ([], {"workflow": "previs", "values": {"steps": [1]}}, "bad_parameter", "must be text"),
        ([], {"workflow": "previs", "values": {"seed": 3}}, "bad_parameter", "nothing bound"),
        ([], {"workflow": "previs", "values": [1]}, "bad_parameter", "must be an object"),
        ([], {"workflow": "restyle", "negative_prompt": "x"}, "bad_parameter", "no node bound"),
        ([], {"workflow": "restyle"}, "wrong_inputs", "plate missing"),
        (["plate", "mask"], {"workflow": "restyle"}, "wrong_inputs", "mask not taken"),
        (["plate"], {"workflow": "previs"}, "wrong_inputs", "plate not taken"),
    ],
)
def test_a_request_the_workflow_cannot_take_is_refused_up_front(
    workflows: Path,
    tmp_path: Path,
    inputs: list[str],
    parameters: dict[str, Any],
    code: str,
    said: str,
) -> None:
    given = [replace(plate(tmp_path), part=part) for part in inputs]
    with refused_as(f"backend.comfyui.{code}") as caught:
        configured(None, workflows).check(given, parameters)
    assert said in caught.value.message


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ("{not json", "not JSON"),
        (json.dumps(PREVIS_GRAPH), "no 'graph'"),
        (json.dumps({**PREVIS, "bind": {"prompt": "66.text"}}), "'66.text', which is not in"),
        (json.dumps({**PREVIS, "bind": {"prompt": "6"}}), "'<node id>.<input>'"),
        (json.dumps({**PREVIS, "outputs": ["99"]}), "'outputs' must list node ids"),
        (json.dumps({**RESTYLE, "bind": {"plate": "3.seed"}}), "both a bound value and an input"),
    ],
)
def test_a_broken_workflow_file_is_reported_for_the_pipeline_team(
    workflows: Path, document: str, said: str
) -> None:
    (workflows / "broken.json").write_text(document)
    with refused_as("backend.comfyui.bad_workflow") as caught:
        configured(None, workflows).check([], {"workflow": "broken"})
    assert said in caught.value.message


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "GREENLIGHT_DATA_DIR": str(tmp_path),
            "GREENLIGHT_COMFYUI_URL": "http://comfy.studio.internal:8188",
            "GREENLIGHT_COMFYUI_API_KEY": "proxy-token-123456",
            "GREENLIGHT_COMFYUI_POLL_INTERVAL": "0.5",
            "GREENLIGHT_COMFYUI_TIME_LIMIT": "1800",
        }
    )
    comfyui = settings.comfyui
    assert comfyui.url == "http://comfy.studio.internal:8188"
    assert comfyui.workflows_dir == tmp_path / "workflows" / "comfyui"
    assert comfyui.poll_interval == 0.5 and comfyui.time_limit == 1800
    assert "proxy-token-123456" not in repr(settings)
