"""Text-to-image, image-to-image and inpainting with a local diffusers pipeline.

For previs, style frames and concept work: a Stable Diffusion model the studio
keeps on its own disks makes images from a prompt, reworks an image, or repaints
the masked part of one. Nothing is downloaded: a model is a diffusers pipeline
folder (``save_pretrained`` layout, safetensors weights) under the models
directory (``GREENLIGHT_MODELS_DIR``), named by the ``model`` parameter.

Tasks, by the ``task`` parameter or, when it is left out, by the inputs given:
``text_to_image`` (no input), ``image_to_image`` (an ``image``) and ``inpaint``
(an ``image`` and a ``mask`` of its size; light mask pixels are repainted).
Parameters: ``prompt`` (required) and ``negative_prompt``, ``steps``,
``guidance_scale``, ``strength`` (image tasks), ``width``/``height``
(text-to-image; image tasks keep the image's size) and ``variants``.

The same seed gives the same images: variant ``i`` is made with ``seed + i``,
one at a time, so any variant can be made again alone, and on CPU the PNGs are
byte-identical. The result records the base seed. Runs on CPU unless the
installation sets ``GREENLIGHT_DIFFUSERS_DEVICE=cuda``.

``check`` reads only small JSON configs and image headers, so importing this
module, and checking a request, never imports torch; weights load on the first
run and stay loaded for the life of the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from greenlight.backends._plates import still_size
from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    Capabilities,
    CheckedBackend,
    Parameter,
    Progress,
    Task,
    bad_parameter,
    check_parameters,
)
from greenlight.core.errors import GreenlightError, InvalidInput
from greenlight.core.settings import LocalModels, Settings

NAME = "diffusers"
TASKS = ("text_to_image", "image_to_image", "inpaint")

SUPPORTED_PIPELINES = frozenset(
    {"StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"}
)
"""Pipeline classes (``model_index.json``'s ``_class_name``) this backend runs."""

_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
_WEIGHTED = ("unet", "vae", "text_encoder")
_LIBRARIES = frozenset({"diffusers", "transformers"})
# Files that hold weights: never read whole to version a model, only stat'ed and sampled.
_WEIGHT_SUFFIXES = frozenset({".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".gguf"})
_SAMPLE = 1 << 20  # bytes read from each end of a weights file for the model version

MIN_SIDE = 64
MAX_SIDE = 2048
MAX_STEPS = 150
MAX_VARIANTS = 8
MAX_PROMPT_CHARS = 4000
MAX_SEED = 2**63 - 1  # the prompt log stores seeds as signed 64-bit integers
DEFAULT_STEPS = 30
DEFAULT_GUIDANCE = 7.5
DEFAULT_STRENGTH = {"image_to_image": 0.75, "inpaint": 1.0}

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FORMATS = {"image/png": {"PNG"}, "image/jpeg": {"JPEG", "MPO"}, "image/webp": {"WEBP"}}

_PARAMETERS = (
    Parameter(
        "model",
        "str",
        "the model: a pipeline folder's name in the models directory",
        required=True,
    ),
    Parameter(
        "task",
        "str",
        "what to do; left out, it follows the inputs: none for text_to_image, an image "
        "for image_to_image, an image and a mask for inpaint",
        choices=TASKS,
    ),
    Parameter("prompt", "str", "what the image should show", required=True),
    Parameter("negative_prompt", "str", "what the image should not show"),
    Parameter(
        "steps", "int", "denoising steps", default=DEFAULT_STEPS, minimum=1, maximum=MAX_STEPS
    ),
    Parameter(
        "guidance_scale",
        "float",
        "how closely to follow the prompt (1 or less turns guidance off)",
        default=DEFAULT_GUIDANCE,
        minimum=0,
        maximum=30,
    ),
    Parameter(
        "strength",
        "float",
        "how much of the image to repaint, image tasks only (default 0.75 for "
        "image_to_image, 1.0 for inpaint)",
        minimum=0.01,
        maximum=1,
    ),
    Parameter(
        "width",
        "int",
        "pixels, a multiple of 8, text_to_image only (default: the model's own size)",
        minimum=MIN_SIDE,
        maximum=MAX_SIDE,
    ),
    Parameter(
        "height",
        "int",
        "pixels, a multiple of 8, text_to_image only (default: the model's own size)",
        minimum=MIN_SIDE,
        maximum=MAX_SIDE,
    ),
    Parameter(
        "variants",
        "int",
        "how many images to make; variant i uses seed + i",
        default=1,
        minimum=1,
        maximum=MAX_VARIANTS,
    ),
)

Pixels = npt.NDArray[Any]


class DiffusersBackend(CheckedBackend):
    """Makes or reworks images with a Stable Diffusion pipeline from a local folder."""

    name = NAME

    def __init__(
        self,
        models: LocalModels | None = None,
        *,
        models_dir: Path | None = None,
        model: str | None = None,
    ):
        """Use the models in ``models`` (by default the environment's settings);
        ``models_dir`` overrides where their folders are. With ``model``, the
        backend runs that model only: requests may leave the ``model`` parameter
        out, and naming another is refused (a tool vetted for one model)."""
        if models is None:
            settings = Settings.from_env()
            models = LocalModels(
                root=settings.models_dir,
                device=settings.local_models.device,
                threads=settings.local_models.threads,
            )
        self.models_dir = (models_dir or models.root or Path("models")).absolute()
        self.device = models.device
        self.threads = models.threads
        parameters = _PARAMETERS
        if model is not None:
            pinned = Parameter(
                "model", "str", "the model this tool runs", default=model, choices=(model,)
            )
            parameters = (pinned, *_PARAMETERS[1:])
        self.capabilities = Capabilities(
            tasks=TASKS,
            media_in={"image": tuple(_FORMATS), "mask": tuple(_FORMATS)},
            media_out=("image/png",),
            parameters=parameters,
            needs_gpu=self.device.startswith("cuda"),
            seeded=True,
            extra={"device": self.device},
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> DiffusersBackend:
        """The backend for an installation's settings (its models directory and device)."""
        local = settings.local_models
        return cls(LocalModels(settings.models_dir, local.device, local.threads))

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse what this backend cannot do; return the parameters a run will use.

        Reads the model folder's JSON configs and the images' headers only: no
        weights, no torch, cheap enough for the submission path.
        """
        effective = check_parameters(NAME, self.capabilities, parameters)
        folder = _model_folder(self.models_dir, effective["model"])
        image_at, mask_at = _roles(inputs)
        task = effective.get("task") or _task_for(image_at, mask_at)
        effective["task"] = task
        _inputs_fit_task(task, image_at, mask_at)
        if task != "inpaint" and folder.inpaint_only:
            raise InvalidInput(
                f"The model {folder.name!r} is an inpainting model (its UNet takes a mask); "
                "use it with task 'inpaint', an image and a mask, or pick another model.",
                code="backend.diffusers.model_cannot_do_task",
                model=folder.name,
                task=task,
            )
        for key in ("prompt", "negative_prompt"):
            if len(effective.get(key, "")) > MAX_PROMPT_CHARS:
                raise bad_parameter(
                    NAME, f"'{key}' is longer than {MAX_PROMPT_CHARS} characters; shorten it."
                )
        if task == "text_to_image":
            if "strength" in effective:
                raise bad_parameter(
                    NAME, "'strength' applies to image_to_image and inpaint only; leave it out."
                )
            effective.setdefault("width", folder.native_size)
            effective.setdefault("height", folder.native_size)
            for side in ("width", "height"):
                if effective[side] % 8:
                    raise bad_parameter(
                        NAME, f"'{side}' must be a multiple of 8, not {effective[side]}."
                    )
        else:
            assert image_at is not None  # _inputs_fit_task saw to it
            width, height = _image_size(inputs[image_at])
            if mask_at is not None:
                mask_size = _image_size(inputs[mask_at])
                if mask_size != (width, height):
                    raise InvalidInput(
                        f"The mask is {mask_size[0]}x{mask_size[1]} pixels but the image is "
                        f"{width}x{height}; export the mask at the image's size.",
                        code="backend.diffusers.mask_size_mismatch",
                        image_size=[width, height],
                        mask_size=list(mask_size),
                    )
            for side, size in (("width", width), ("height", height)):
                # Checked parameters come back to check in the worker: the image's own
                # size may be given; any other is refused rather than silently resized.
                if effective.setdefault(side, size) != size:
                    raise bad_parameter(
                        NAME,
                        f"'{side}' cannot be {effective[side]} for {task}: the output keeps "
                        f"the input image's size ({width}x{height}); resize the image instead.",
                    )
            effective.setdefault("strength", DEFAULT_STRENGTH[task])
            if int(effective["steps"] * effective["strength"]) < 1:
                # diffusers runs int(steps * strength) steps; zero would make nothing.
                raise bad_parameter(
                    NAME,
                    f"{effective['steps']} steps at strength {effective['strength']:g} "
                    "leaves no step to run; raise 'steps' or 'strength' so that steps x "
                    "strength is at least 1.",
                )
        return effective

    def work(self, task: Task) -> BackendResult:
        """Make ``variants`` PNGs in ``out_dir``, named after the model and each one's seed.

        Fails (``backend.diffusers.*``) leaving nothing in ``out_dir`` if the
        model cannot load, the pipeline crashes or it produces non-finite pixels.
        """
        inputs, effective, out_dir, seed, progress = task
        variants = int(effective["variants"])
        if seed is None:
            seed = secrets.randbelow(2**31)
        if isinstance(seed, bool) or not 0 <= seed <= MAX_SEED - (variants - 1):
            raise InvalidInput(
                f"The seed must be a whole number from 0 to {MAX_SEED - (variants - 1)}, "
                f"not {seed!r}.",
                code="backend.diffusers.bad_seed",
            )
        folder = _model_folder(self.models_dir, effective["model"])
        pipeline_task = effective["task"]
        image_at, mask_at = _roles(inputs)
        images = _task_images(inputs, image_at, mask_at)
        progress(0.0, f"loading {folder.name}")
        loaded_at = time.perf_counter()
        pipeline = _pipeline(folder, pipeline_task, self.device, self.threads)
        load_ms = round((time.perf_counter() - loaded_at) * 1000)
        steps = int(effective["steps"])
        if pipeline_task != "text_to_image":
            steps = min(int(steps * effective["strength"]), steps)
        made = _generate(pipeline, folder, effective, images, seed, variants, steps, progress)
        worked = time.perf_counter() - loaded_at
        version = _model_version(folder.path)  # before writing: a failure here leaves nothing
        outputs = _write(
            made, out_dir, [f"{folder.name}_seed{seed + i}.png" for i in range(variants)]
        )
        parents = tuple(i for i in (image_at, mask_at) if i is not None)
        return BackendResult(
            outputs=tuple(
                BackendOutput(path=path, media_type="image/png", parents=parents)
                for path in outputs
            ),
            model=f"{NAME}:{folder.name}",
            model_version=version,
            parameters=effective,
            seed=seed,
            usage={
                "images": variants,
                "pixels": variants * effective["width"] * effective["height"],
                "denoising_steps": variants * steps,
                "device": self.device,
                "threads": self.threads,
                "load_ms": load_ms,
                # Time the GPU was held (loading and denoising), for the prompt log's cost.
                **({"gpu_seconds": round(worked, 3)} if self.device != "cpu" else {}),
            },
            cost_usd=None,  # our own hardware: the tool's rate card prices it
            # Inpainting alters a real image in places; the other tasks make a new one
            # (an input image is recorded as an ingredient, not as the edited source).
            kind="edited" if pipeline_task == "inpaint" else "generated",
        )


# The model folder.


@dataclass(frozen=True)
class _ModelFolder:
    """What the JSON configs say about a model folder, read without loading weights."""

    name: str
    path: Path
    pipeline_class: str
    inpaint_only: bool  # a UNet that takes the masked image as extra input channels
    native_size: int  # the side, in pixels, the model was trained at


def _model_folder(models_dir: Path, name: str) -> _ModelFolder:
    """The model called ``name`` in ``models_dir``, checked to be a pipeline we can run."""
    if not _MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a model name: give the name of a folder in the models "
            "directory (letters, digits, '.', '_' and '-'), not a path.",
            code="backend.diffusers.bad_model_name",
        )
    path = models_dir / name
    if not path.is_dir():
        known = _model_names(models_dir)
        listed = ", ".join(known) if known else "none are installed"
        raise InvalidInput(
            f"There is no model called {name!r} in the models directory ({listed}); "
            "ask an administrator to install it under GREENLIGHT_MODELS_DIR.",
            code="backend.diffusers.unknown_model",
            model=name,
            known=known,
        )
    index = _json(path / "model_index.json")
    if not isinstance(index, dict) or not isinstance(index.get("_class_name"), str):
        raise InvalidInput(
            f"The folder {name!r} is not a diffusers pipeline: it has no readable "
            "model_index.json; save the model with save_pretrained and try again.",
            code="backend.diffusers.not_a_pipeline",
            model=name,
        )
    pipeline_class = index["_class_name"]
    if pipeline_class not in SUPPORTED_PIPELINES:
        raise InvalidInput(
            f"The model {name!r} is a {pipeline_class}; this backend runs "
            f"{', '.join(sorted(SUPPORTED_PIPELINES))} models only.",
            code="backend.diffusers.unsupported_pipeline",
            model=name,
            pipeline=pipeline_class,
        )
    for key, entry in index.items():
        if key.startswith("_") or not isinstance(entry, list) or entry[:1] == [None]:
            continue
        if len(entry) != 2 or entry[0] not in _LIBRARIES:
            # Any other library means code shipped with (or named by) the model would run.
            raise InvalidInput(
                f"The model {name!r} names {entry!r} for its {key}; only components from "
                "diffusers and transformers are loaded, never code shipped with a model.",
                code="backend.diffusers.custom_code",
                model=name,
                component=key,
            )
    missing = [c for c in _COMPONENTS if not _component_present(path, index, c)]
    if missing:
        raise InvalidInput(
            f"The model {name!r} is incomplete: {', '.join(missing)} missing or without "
            "its config; copy the whole pipeline folder again.",
            code="backend.diffusers.incomplete_model",
            model=name,
            missing=missing,
        )
    unsafe = [c for c in _WEIGHTED if not any((path / c).glob("*.safetensors"))]
    if unsafe:
        # Pickled weights (.bin, .ckpt) can run code when loaded.
        raise InvalidInput(
            f"The model {name!r} has no safetensors weights for {', '.join(unsafe)}; "
            "convert its weights to safetensors, which cannot carry code.",
            code="backend.diffusers.unsafe_weights",
            model=name,
            components=unsafe,
        )
    unet, vae = _json(path / "unet" / "config.json"), _json(path / "vae" / "config.json")
    try:
        in_channels = int(unet.get("in_channels", 4))
        scale = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
        native = int(unet.get("sample_size", 64)) * scale
    except (AttributeError, TypeError, ValueError):
        in_channels, native = -1, 0
    if in_channels not in (4, 9) or not MIN_SIDE <= native <= MAX_SIDE:
        raise InvalidInput(
            f"The model {name!r} has a UNet or VAE config this backend does not understand "
            "(it expects 4 latent channels, or 9 for an inpainting model).",
            code="backend.diffusers.unsupported_pipeline",
            model=name,
        )
    return _ModelFolder(name, path, pipeline_class, in_channels == 9, native)


def _model_names(models_dir: Path) -> list[str]:
    try:
        return sorted(p.name for p in models_dir.iterdir() if (p / "model_index.json").is_file())
    except OSError:
        return []


def _component_present(path: Path, index: Mapping[str, Any], component: str) -> bool:
    entry = index.get(component)
    if not isinstance(entry, list) or entry[:1] == [None]:
        return False
    folder = path / component
    return folder.is_dir() and any(folder.glob("*.json"))


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_VERSIONS: dict[tuple[Any, ...], str] = {}


def _model_version(folder: Path) -> str:
    """A digest of the folder's configs plus each weights file's size and ends.

    Configs are hashed whole; weights files (gigabytes) contribute their size and
    their first and last megabyte, which covers the safetensors header (every
    tensor's name, shape and offset). Computed once per process per folder state.
    """
    signature = _signature(folder)
    known = _VERSIONS.get(signature)
    if known is not None:
        return known
    digest = hashlib.sha256()
    for relative, size, _ in signature[1]:
        file = folder / relative
        digest.update(f"{relative}\0{size}\0".encode())
        with file.open("rb") as handle:
            if Path(relative).suffix not in _WEIGHT_SUFFIXES or size <= 2 * _SAMPLE:
                digest.update(handle.read())
            else:
                digest.update(handle.read(_SAMPLE))
                handle.seek(size - _SAMPLE)
                digest.update(handle.read(_SAMPLE))
    version = f"sha256:{digest.hexdigest()}"
    _VERSIONS[signature] = version
    return version


def _signature(folder: Path) -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """The folder and every file's (path, size, mtime): changes when the model does."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            stat = (Path(root) / name).stat()
            relative = (Path(root) / name).relative_to(folder).as_posix()
            files.append((relative, stat.st_size, stat.st_mtime_ns))
    return str(folder.resolve()), tuple(sorted(files))


# The request's inputs.


def _roles(inputs: Sequence[BackendInput]) -> tuple[int | None, int | None]:
    """Positions of the image and the mask among the inputs (``None``: not given)."""
    others = sorted({item.part for item in inputs} - {"image", "mask"})
    if others:
        raise InvalidInput(
            f"This backend takes an 'image' and a 'mask', not {', '.join(others)}; rename "
            "or remove those inputs.",
            code="backend.diffusers.unexpected_input",
            parts=others,
        )
    images = [i for i, item in enumerate(inputs) if item.part == "image"]
    masks = [i for i, item in enumerate(inputs) if item.part == "mask"]
    if len(images) > 1 or len(masks) > 1:
        raise InvalidInput(
            "Send at most one image and one mask per request; make the others separately.",
            code="backend.diffusers.too_many_inputs",
        )
    return (images[0] if images else None), (masks[0] if masks else None)


def _task_for(image_at: int | None, mask_at: int | None) -> str:
    if image_at is None and mask_at is None:
        return "text_to_image"
    return "image_to_image" if mask_at is None else "inpaint"


def _inputs_fit_task(task: str, image_at: int | None, mask_at: int | None) -> None:
    wanted = {"text_to_image": (False, False), "image_to_image": (True, False)}.get(
        task, (True, True)
    )
    if (image_at is not None, mask_at is not None) == wanted:
        return
    needs = {
        "text_to_image": "no input image",
        "image_to_image": "one 'image' and no mask",
        "inpaint": "an 'image' and a 'mask' (light pixels are repainted)",
    }[task]
    raise InvalidInput(
        f"{task} takes {needs}; send those inputs or choose the task that fits yours.",
        code="backend.diffusers.inputs_do_not_fit_task",
        task=task,
    )


def _image_size(item: BackendInput) -> tuple[int, int]:
    """Width and height from the image header, checked to be a size the model can take."""
    width, height = still_size(NAME, item, _FORMATS, "a PNG, JPEG or WebP image")
    if (
        width % 8
        or height % 8
        or not MIN_SIDE <= width <= MAX_SIDE
        or not MIN_SIDE <= height <= MAX_SIDE
    ):
        raise InvalidInput(
            f"The {item.part} is {width}x{height}; both sides must be multiples of 8 from "
            f"{MIN_SIDE} to {MAX_SIDE} pixels. Crop or resize it and try again.",
            code="backend.diffusers.bad_image_size",
            part=item.part,
            size=[width, height],
        )
    return width, height


def _task_images(
    inputs: Sequence[BackendInput], image_at: int | None, mask_at: int | None
) -> dict[str, Image.Image]:
    """The pipeline's image arguments: an RGB ``image`` and an 8-bit grey ``mask_image``."""
    images: dict[str, Image.Image] = {}
    if image_at is not None:
        images["image"] = _decoded(inputs[image_at]).convert("RGB")
    if mask_at is not None:
        mask = _decoded(inputs[mask_at]).convert("L")
        if not np.any(np.asarray(mask) >= 128):  # the pipeline repaints where mask >= 0.5
            raise InvalidInput(
                "The mask marks nothing to repaint (it has no light pixels); paint the area "
                "to change in white and try again.",
                code="backend.diffusers.empty_mask",
            )
        images["mask_image"] = mask
    return images


def _decoded(item: BackendInput) -> Image.Image:
    try:
        with Image.open(item.path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit grey: keep the top 8 bits, as converting directly would clip.
                return Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
            return image.copy()
    except Exception as exc:
        raise InvalidInput(
            f"The {item.part} is missing, damaged or not an image; export it again.",
            code="backend.diffusers.unreadable_image",
            part=item.part,
        ) from exc


# Running the pipeline.

_LOADED: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_KEEP_LOADED = 2  # models kept in memory per process; a third evicts the oldest
_LOCK = threading.Lock()  # one load or run at a time: pipelines are not thread-safe


def _pipeline(folder: _ModelFolder, task: str, device: str, threads: int) -> Any:
    """The pipeline for ``task``, loaded once per process per folder state and device."""
    import torch  # here, not at module level: importing torch takes seconds

    torch.set_num_threads(threads)
    key = (_signature(folder.path), device)
    with _LOCK:
        tasks = _LOADED.get(key)
        if tasks is None:
            tasks = {"loaded": _load(folder, device)}
            _LOADED[key] = tasks
            while len(_LOADED) > _KEEP_LOADED:
                _LOADED.popitem(last=False)
        _LOADED.move_to_end(key)
        if task not in tasks:
            tasks[task] = _for_task(tasks["loaded"], task)
        return tasks[task]


def _load(folder: _ModelFolder, device: str) -> Any:
    import torch
    from diffusers import DiffusionPipeline

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GreenlightError(
            f"This worker is set to run diffusion on {device} but torch sees no CUDA GPU; "
            "run it on a GPU worker or set GREENLIGHT_DIFFUSERS_DEVICE=cpu.",
            code="backend.diffusers.no_gpu",
        )
    # Half precision on a GPU (speed, memory); full on CPU, where half is slow and
    # where full precision gives byte-identical results for a seed.
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    try:
        pipeline = DiffusionPipeline.from_pretrained(
            str(folder.path),
            local_files_only=True,
            use_safetensors=True,
            dtype=dtype,
            low_cpu_mem_usage=False,  # True needs accelerate, which we do not install
        )
        pipeline.to(device)
    except Exception as exc:
        raise GreenlightError(
            f"The model {folder.name!r} could not be loaded ({type(exc).__name__}: {exc}); "
            "check that its folder is a complete diffusers pipeline.",
            code="backend.diffusers.load_failed",
            model=folder.name,
        ) from exc
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _for_task(pipeline: Any, task: str) -> Any:
    """The same components (no copy of the weights) behind the task's pipeline class."""
    from diffusers import (
        AutoPipelineForImage2Image,
        AutoPipelineForInpainting,
        AutoPipelineForText2Image,
    )

    auto = {
        "text_to_image": AutoPipelineForText2Image,
        "image_to_image": AutoPipelineForImage2Image,
        "inpaint": AutoPipelineForInpainting,
    }[task]
    made = auto.from_pipe(pipeline)
    made.set_progress_bar_config(disable=True)
    return made


class _ProgressFailed(Exception):
    """The progress callback raised (a cancelled run): passed through unchanged."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _generate(
    pipeline: Any,
    folder: _ModelFolder,
    effective: Mapping[str, Any],
    images: Mapping[str, Image.Image],
    seed: int,
    variants: int,
    steps: int,
    progress: Progress,
) -> list[Pixels]:
    """One image per variant, each from its own seed, as 8-bit RGB arrays."""
    import torch

    total = variants * steps
    arguments: dict[str, Any] = {
        "prompt": effective["prompt"],
        "negative_prompt": effective.get("negative_prompt"),
        "num_inference_steps": effective["steps"],
        "guidance_scale": effective["guidance_scale"],
        "output_type": "np",
        **images,
    }
    if effective["task"] == "text_to_image":
        arguments.update(width=effective["width"], height=effective["height"])
    else:
        arguments["strength"] = effective["strength"]
        if effective["task"] == "inpaint":
            arguments.update(width=effective["width"], height=effective["height"])
    made: list[Pixels] = []
    for variant in range(variants):

        def step_done(
            pipe: Any, step: int, timestep: Any, tensors: dict[str, Any], variant: int = variant
        ) -> dict[str, Any]:
            done = variant * steps + min(step + 1, steps)
            try:
                progress(
                    done / total, f"variant {variant + 1} of {variants}: step {step + 1}/{steps}"
                )
            except BaseException as exc:
                raise _ProgressFailed(exc) from exc
            return tensors

        # A CPU generator gives the same starting noise for a seed on any device.
        generator = torch.Generator(device="cpu").manual_seed(seed + variant)
        try:
            with _LOCK, torch.inference_mode():
                output = pipeline(**arguments, generator=generator, callback_on_step_end=step_done)
        except _ProgressFailed as stopped:
            raise stopped.cause from None
        except GreenlightError:
            raise
        except Exception as exc:
            raise GreenlightError(
                f"The model {folder.name!r} failed while making variant {variant + 1} "
                f"({type(exc).__name__}: {exc}); nothing was kept. Check the model with "
                "its maker, or try other parameters.",
                code="backend.diffusers.pipeline_failed",
                model=folder.name,
            ) from exc
        pixels = np.asarray(output.images[0], dtype=np.float32)
        if not np.all(np.isfinite(pixels)):
            raise GreenlightError(
                f"The model {folder.name!r} produced invalid pixels (NaN or infinity) for "
                f"variant {variant + 1}; nothing was kept. The model's weights may be "
                "damaged, or half precision overflowed; try another seed or model.",
                code="backend.diffusers.invalid_output",
                model=folder.name,
            )
        made.append((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))
    return made


def _write(made: Sequence[Pixels], out_dir: Path, names: Sequence[str]) -> list[Path]:
    """Write every image under a temporary name, then rename: all of them, or none."""
    out_dir.mkdir(parents=True, exist_ok=True)
    partials: list[Path] = []
    finals: list[Path] = []
    try:
        for pixels, name in zip(made, names, strict=True):
            partials.append(out_dir / f".{name}.partial")
            Image.fromarray(pixels).save(partials[-1], format="PNG")
        for partial, name in zip(partials, names, strict=True):
            partial.replace(out_dir / name)
            finals.append(out_dir / name)
        return finals
    except BaseException:
        for path in partials + finals:
            path.unlink(missing_ok=True)
        raise
