"""The diffusers backend on a tiny random Stable Diffusion pipeline built from configs.

The pipeline is made here, once per session, from the same component classes a
real Stable Diffusion folder holds (UNet, VAE, CLIP text encoder, tokenizer, DDIM
scheduler) at toy sizes, saved with ``save_pretrained`` and loaded back by the
backend like any installed model: no download, 64x64 images, one or two steps.
Its pictures are noise; what is tested is the plumbing, the determinism and the
refusals.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from greenlight.backends import BACKENDS, BackendInput, BackendResult, backend_for
from greenlight.backends.diffusers_images import DiffusersBackend
from greenlight.core.enums import RequestState
from greenlight.core.errors import GreenlightError, InvalidInput
from greenlight.core.models import InputRef
from greenlight.core.settings import LocalModels, Settings
from greenlight.engine import assets, requests, runs
from greenlight.engine.platform import Platform
from tests.expect import refused
from tests.world import build_world

MODEL = "sd-tiny"
PROMPT = "a red sky over the city at night"
FAST = {"model": MODEL, "prompt": PROMPT, "steps": 1, "width": 64, "height": 64}


def tiny_pipeline(*, cross_attention_dim: int = 32, in_channels: int = 4) -> Any:
    """A randomly initialised Stable Diffusion pipeline small enough to run in 0.1 s."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    words = ("a", "the", "red", "blue", "sky", "over", "city", "at", "night", "rain", "wire")
    vocab = {"[PAD]": 0, "[UNK]": 1, "<|startoftext|>": 2, "<|endoftext|>": 3}
    vocab.update({word: 4 + i for i, word in enumerate(words)})
    word_level = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=word_level,
        model_max_length=77,
        pad_token="[PAD]",
        unk_token="[UNK]",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
    )
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_attention_dim,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=2,
            eos_token_id=3,
            pad_token_id=0,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=1000,
            max_position_embeddings=77,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory: the tiny pipeline, plus broken and unsuitable variations of it."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    tiny_pipeline().save_pretrained(root / MODEL)
    # Loads fine, fails inside the pipeline: the UNet expects 48-wide text embeddings.
    tiny_pipeline(cross_attention_dim=48).save_pretrained(root / "mismatched")
    # Loads and runs, but its VAE decodes everything to NaN.
    poisoned = tiny_pipeline()
    with torch.no_grad():
        poisoned.vae.decoder.conv_out.weight.fill_(float("nan"))
    poisoned.save_pretrained(root / "poisoned")
    return root


def variation(models_dir: Path, name: str, change: Any) -> str:
    """A copy of the tiny model called ``name``, altered by ``change(folder)``."""
    folder = models_dir / name
    if not folder.exists():
        shutil.copytree(models_dir / MODEL, folder)
        change(folder)
    return name


def edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.fixture
def backend(models_dir: Path) -> DiffusersBackend:
    return DiffusersBackend(LocalModels(root=models_dir, device="cpu", threads=1))


def png(path: Path, width: int = 64, height: int = 64, *, hole: bool = False) -> Path:
    """A smooth colour image; with ``hole``, a mask marking a square in its middle."""
    if hole:
        pixels = np.zeros((height, width), dtype=np.uint8)
        pixels[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 255
    else:
        y, x = np.mgrid[0:height, 0:width]
        pixels = np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256], axis=2).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def image(path: Path) -> BackendInput:
    return BackendInput(path=path, part="image", media_type="image/png")


def mask(path: Path) -> BackendInput:
    return BackendInput(path=path, part="mask", media_type="image/png")


def make(
    backend: DiffusersBackend,
    out_dir: Path,
    inputs: list[BackendInput] | None = None,
    *,
    seed: int | None = 7,
    **parameters: Any,
) -> BackendResult:
    return backend.run(inputs or [], given(**parameters), out_dir, seed=seed)


def given(**changes: Any) -> dict[str, Any]:
    """The fast parameters with ``changes``; a change to ``None`` leaves that one out."""
    return {k: v for k, v in {**FAST, **changes}.items() if v is not None}


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_importing_the_backends_does_not_import_torch() -> None:
    code = "import sys, greenlight.backends; print('torch' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "False"
    assert "diffusers" in BACKENDS


def test_the_same_seed_makes_byte_identical_pngs(backend: DiffusersBackend, tmp_path: Path) -> None:
    first = make(backend, tmp_path / "first", seed=1234)
    again = make(backend, tmp_path / "again", seed=1234)
    other = make(backend, tmp_path / "other", seed=1235)

    (made,) = first.outputs
    assert made.path.name == f"{MODEL}_seed1234.png" and made.parents == ()
    assert made.path.read_bytes() == again.outputs[0].path.read_bytes()
    assert made.path.read_bytes() != other.outputs[0].path.read_bytes()
    with Image.open(made.path) as picture:
        assert picture.size == (64, 64) and picture.mode == "RGB"
    assert first.seed == 1234 and first.kind == "generated"
    assert first.model == f"diffusers:{MODEL}"
    assert first.model_version == again.model_version
    assert first.model_version.startswith("sha256:")
    assert first.parameters == {
        **FAST,
        "task": "text_to_image",
        "guidance_scale": 7.5,
        "variants": 1,
    }
    assert first.usage["denoising_steps"] == 1 and first.usage["threads"] == 1


def test_each_variant_is_the_image_its_own_seed_makes(
    backend: DiffusersBackend, tmp_path: Path
) -> None:
    reported: list[tuple[float, str]] = []
    batch = backend.run(
        [],
        {**FAST, "steps": 2, "variants": 3},
        tmp_path / "batch",
        seed=40,
        progress=lambda done, stage: reported.append((done, stage)),
    )
    assert [o.path.name for o in batch.outputs] == [
        f"{MODEL}_seed40.png",
        f"{MODEL}_seed41.png",
        f"{MODEL}_seed42.png",
    ]
    assert batch.seed == 40 and batch.usage["images"] == 3
    alone = make(backend, tmp_path / "alone", seed=42, steps=2)
    assert batch.outputs[2].path.read_bytes() == alone.outputs[0].path.read_bytes()
    assert len({o.path.read_bytes() for o in batch.outputs}) == 3
    # Loading, then every denoising step of every variant, then done.
    fractions = [done for done, _ in reported]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [stage for _, stage in reported if "step" in stage] == [
        f"variant {v} of 3: step {s}/2" for v in (1, 2, 3) for s in (1, 2)
    ]


def test_image_to_image_keeps_the_image_size(backend: DiffusersBackend, tmp_path: Path) -> None:
    source = png(tmp_path / "frame.png", width=80, height=64)
    result = make(backend, tmp_path / "out", [image(source)], steps=2, width=None, height=None)
    (made,) = result.outputs
    assert made.parents == (0,)
    assert result.kind == "generated"  # the input is an ingredient of a new picture
    assert result.parameters["task"] == "image_to_image"
    assert result.parameters["strength"] == 0.75
    assert result.usage["denoising_steps"] == 1  # int(2 steps x 0.75)
    with Image.open(made.path) as picture:
        assert picture.size == (80, 64)
    again = make(backend, tmp_path / "again", [image(source)], steps=2, width=None, height=None)
    assert made.path.read_bytes() == again.outputs[0].path.read_bytes()


def test_inpainting_edits_the_image_where_the_mask_is(
    backend: DiffusersBackend, tmp_path: Path
) -> None:
    inputs = [image(png(tmp_path / "plate.png")), mask(png(tmp_path / "hole.png", hole=True))]
    result = make(backend, tmp_path / "out", inputs, width=None, height=None)
    (made,) = result.outputs
    assert made.parents == (0, 1)
    assert result.kind == "edited"
    assert result.parameters["task"] == "inpaint" and result.parameters["strength"] == 1.0
    with Image.open(made.path) as picture:
        assert picture.size == (64, 64)
    again = make(backend, tmp_path / "again", inputs, width=None, height=None)
    assert made.path.read_bytes() == again.outputs[0].path.read_bytes()


def _edit_class(folder: Path) -> None:
    edit_json(folder / "model_index.json", _class_name="FluxPipeline")


def _custom_unet(folder: Path) -> None:
    edit_json(folder / "model_index.json", unet=["my_unets", "FastUNet"])


def _no_vae(folder: Path) -> None:
    shutil.rmtree(folder / "vae")


def _pickled_weights(folder: Path) -> None:
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))


def _inpainting_unet(folder: Path) -> None:
    edit_json(folder / "unet" / "config.json", in_channels=9)


@pytest.mark.parametrize(
    ("model", "change", "code"),
    [
        ("no-such-model", None, "unknown_model"),
        ("../sd-tiny", None, "bad_model_name"),
        ("/etc", None, "bad_model_name"),
        ("sd-tiny/unet", None, "bad_model_name"),
        ("unet-only", lambda f: (f / "model_index.json").unlink(), "not_a_pipeline"),
        ("bad-index", lambda f: (f / "model_index.json").write_text("{"), "not_a_pipeline"),
        ("flux", _edit_class, "unsupported_pipeline"),
        ("custom", _custom_unet, "custom_code"),
        ("no-vae", _no_vae, "incomplete_model"),
        ("pickled", _pickled_weights, "unsafe_weights"),
        ("inpainting-only", _inpainting_unet, "model_cannot_do_task"),
    ],
)
def test_a_model_folder_that_cannot_run_is_refused_before_queueing(
    backend: DiffusersBackend, models_dir: Path, model: str, change: Any, code: str
) -> None:
    if change is not None:
        variation(models_dir, model, change)
    with refused(f"backend.diffusers.{code}", InvalidInput):
        backend.check([], {**FAST, "model": model})


def test_an_unknown_model_is_refused_with_the_installed_ones_named(
    backend: DiffusersBackend,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        backend.check([], {**FAST, "model": "sdxl"})
    assert MODEL in caught.value.details["known"]
    assert MODEL in caught.value.message


@pytest.mark.parametrize(
    ("parameters", "parts", "code"),
    [
        ({"width": 100}, (), "bad_parameter"),  # not a multiple of 8
        ({"width": 4096}, (), "bad_parameter"),
        ({"variants": 9}, (), "bad_parameter"),
        ({"steps": 0}, (), "bad_parameter"),
        ({"seed_offset": 3}, (), "bad_parameter"),
        ({"prompt": None}, (), "bad_parameter"),
        ({"strength": 0.5}, (), "bad_parameter"),  # text_to_image has no strength
        ({"width": None, "height": 72}, ("image",), "bad_parameter"),  # size is the image's
        ({"width": None, "height": None, "steps": 1, "strength": 0.5}, ("image",), "bad_parameter"),
        ({"task": "text_to_image"}, ("image",), "inputs_do_not_fit_task"),
        ({"task": "inpaint", "width": None, "height": None}, ("image",), "inputs_do_not_fit_task"),
        ({"width": None, "height": None}, ("mask",), "inputs_do_not_fit_task"),
        ({"width": None, "height": None}, ("image", "small-mask"), "mask_size_mismatch"),
        ({"width": None, "height": None}, ("odd-image",), "bad_image_size"),
        ({}, ("plate",), "unexpected_input"),
        ({"width": None, "height": None}, ("image", "image"), "too_many_inputs"),
    ],
)
def test_a_request_the_backend_cannot_do_is_refused_before_queueing(
    backend: DiffusersBackend,
    tmp_path: Path,
    parameters: dict[str, Any],
    parts: tuple[str, ...],
    code: str,
) -> None:
    made = {
        "image": image(png(tmp_path / "image.png")),
        "mask": mask(png(tmp_path / "mask.png", hole=True)),
        "small-mask": mask(png(tmp_path / "small.png", 72, 64, hole=True)),
        "odd-image": image(png(tmp_path / "odd.png", 70, 64)),
        "plate": BackendInput(png(tmp_path / "plate.png"), "plate", "image/png"),
    }
    with refused(f"backend.diffusers.{code}", InvalidInput):
        backend.check([made[part] for part in parts], given(**parameters))


@pytest.mark.parametrize("parts", [(), ("image",), ("image", "mask")])
def test_checked_parameters_check_again_unchanged(
    backend: DiffusersBackend, tmp_path: Path, parts: tuple[str, ...]
) -> None:
    """The worker checks the stored, checked parameters again before it runs them."""
    made = {"image": image(png(tmp_path / "image.png")), "mask": mask(png(tmp_path / "m.png"))}
    inputs = [made[part] for part in parts]
    first = backend.check(inputs, given(width=None, height=None, steps=2))
    assert backend.check(inputs, first) == first
    assert (first["width"], first["height"]) == (64, 64)


@pytest.mark.parametrize(
    ("model", "inputs", "code"),
    [
        (MODEL, "empty-mask", "empty_mask"),
        ("mismatched", "", "pipeline_failed"),
        ("poisoned", "", "invalid_output"),
        ("truncated", "", "load_failed"),
    ],
)
def test_a_run_that_fails_leaves_no_output(
    backend: DiffusersBackend, models_dir: Path, tmp_path: Path, model: str, inputs: str, code: str
) -> None:
    def truncate(folder: Path) -> None:
        weights = folder / "vae" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])

    if model == "truncated":
        variation(models_dir, model, truncate)
    sent: list[BackendInput] = []
    parameters: dict[str, Any] = {"model": model, "variants": 2}
    if inputs == "empty-mask":
        blank = tmp_path / "blank.png"
        Image.new("L", (64, 64)).save(blank)
        sent = [image(png(tmp_path / "plate.png")), mask(blank)]
        parameters.update(width=None, height=None)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(GreenlightError) as caught:
        backend.run(sent, given(**parameters), out_dir, seed=3)
    assert caught.value.code == f"backend.diffusers.{code}"
    assert files(out_dir) == []


def test_a_backend_pinned_to_one_model_runs_no_other(models_dir: Path) -> None:
    pinned = DiffusersBackend(LocalModels(root=models_dir), model=MODEL)
    assert pinned.check([], given(model=None))["model"] == MODEL
    with refused("backend.diffusers.bad_parameter", InvalidInput):
        pinned.check([], given(model="poisoned"))


def test_a_seed_out_of_range_is_refused(backend: DiffusersBackend, tmp_path: Path) -> None:
    with refused("backend.diffusers.bad_seed", InvalidInput):
        make(backend, tmp_path / "out", seed=2**63 - 1, variants=2)
    assert files(tmp_path / "out") == []


def test_settings_choose_the_models_folder_device_and_threads(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "GREENLIGHT_DATA_DIR": str(tmp_path),
            "GREENLIGHT_MODELS_DIR": str(tmp_path / "weights"),
            "GREENLIGHT_DIFFUSERS_DEVICE": "cuda:1",
            "GREENLIGHT_TORCH_THREADS": "2",
        }
    )
    on_gpu = DiffusersBackend.from_settings(settings)
    assert on_gpu.models_dir == tmp_path / "weights"
    assert on_gpu.capabilities.needs_gpu and on_gpu.threads == 2
    default = Settings.from_env({"GREENLIGHT_DATA_DIR": str(tmp_path)})
    assert default.models_dir == tmp_path / "models"
    assert not DiffusersBackend.from_settings(default).capabilities.needs_gpu
    with refused("settings.bad_value", InvalidInput):
        Settings.from_env({"GREENLIGHT_DIFFUSERS_DEVICE": "tpu"})
    with refused("settings.bad_value", InvalidInput):
        Settings.from_env({"GREENLIGHT_TORCH_THREADS": "0"})


@pytest.fixture
def platform(sqlite_settings: Settings, models_dir: Path) -> Iterator[Platform]:
    platform = Platform.open(sqlite_settings)
    local = DiffusersBackend(LocalModels(root=models_dir))
    platform.backends = lambda name: local if name == "diffusers" else backend_for(name)
    yield platform
    platform.close()


def test_a_style_frame_request_is_generated_signed_and_logged(platform: Platform) -> None:
    world = build_world(platform)
    tool = world.add_tool(
        "Studio diffusion",
        hosting="studio",
        backend="diffusers",
        use_cases=["style_frames"],
        vendor_id=world.studio_tool.vendor_id,
    )
    source = png(platform.settings.data_dir / "frame.png")
    frame, _ = assets.upload(
        platform,
        world.access("artist"),
        world.production.id,
        "frame.png",
        io.BytesIO(source.read_bytes()),
        "image/png",
    )
    draft = world.cleanup(
        frame,
        use_case="style_frames",
        tool_id=tool.id,
        prompt=PROMPT,
        # The prompt travels in the request alone; the seed makes the frames repeatable.
        parameters={"model": MODEL, "steps": 2, "variants": 2, "seed": 1234},
        inputs=[InputRef(asset_id=frame.id, part="image")],
    )
    submitted = requests.submit(platform, world.access("artist"), draft)
    assert submitted.request.state is RequestState.QUEUED
    assert submitted.request.parameters["task"] == "image_to_image"
    assert submitted.request.parameters["seed"] == 1234
    assert "prompt" not in submitted.request.parameters

    ran = runs.run_request(platform, submitted.request.id)
    assert ran.request.state is RequestState.IN_REVIEW, ran.job
    assert len(ran.outputs) == 2
    assert all(o.parents == (frame.id,) for o in ran.outputs)
    run = ran.job.runs[0] if ran.job else None
    assert run is not None and run.error is None
    assert run.model == f"diffusers:{MODEL}" and run.model_version.startswith("sha256:")
    assert run.seed == 1234
    for output in ran.outputs:
        report = assets.credentials(platform, output)
        assert report.trusted
        assert report.manifest.governance is not None
        assert report.manifest.governance.request_id == submitted.request.id
