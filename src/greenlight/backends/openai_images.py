"""Images from any OpenAI-compatible image API: text to image, and edits.

With no input the ``prompt`` goes to ``POST {base}/images/generations``; with an
``image`` (one or more, e.g. a plate and references) and optionally a ``mask``
it goes to ``POST {base}/images/edits`` as a multipart form. ``n`` variants
come back base64-encoded (``b64_json``), are decoded, checked to be whole
images and written as ``generated_<k>.png`` or ``<image stem>_edit_<k>.png``.

The mask follows the house rule (non-zero pixels are changed, as in
``inpaint``) when it has no alpha channel, and is converted to the API's rule
(fully transparent pixels are changed); a mask with alpha is sent as it is.

Configuration, never request parameters: ``GREENLIGHT_OPENAI_BASE_URL``,
``GREENLIGHT_OPENAI_API_KEY`` (never written to parameters, usage, logs or
errors), ``GREENLIGHT_OPENAI_MODEL`` (the default ``model``),
``GREENLIGHT_OPENAI_RATE_CARD`` and ``GREENLIGHT_OPENAI_TIME_LIMIT``. The cost
is what the service reports (``usage.cost``) when it does, else tokens or
images priced by the rate card, else unknown.

Data leaves the studio: ``capabilities.remote`` is true, so policy can refuse it
for material that must stay in an enclosed environment.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from greenlight.backends._http import (
    EXTENSIONS,
    Deadline,
    ReceivedImage,
    VendorService,
    checked_image,
    write_all,
)
from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    Capabilities,
    CheckedBackend,
    Parameter,
    Task,
    bad_parameter,
    check_parameters,
)
from greenlight.core.errors import InvalidInput
from greenlight.core.settings import Settings

NAME = "openai-images"
MAX_VARIANTS = 10
MAX_PROMPT = 32_000
MAX_IMAGES = 16  # reference images one edit may take
MAX_INPUT_BYTES = 50 * 1024 * 1024
QUALITIES = ("auto", "high", "medium", "low", "hd", "standard")
_SIZE = re.compile(r"^(auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4})$")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


class OpenAIImagesBackend(CheckedBackend):
    """Text to image and image edits on an OpenAI-compatible service."""

    name = NAME

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.capabilities = Capabilities(
            tasks=("text_to_image", "image_to_image", "inpaint"),
            media_in={"image": _IMAGE_TYPES, "mask": ("image/png",)},
            media_out=_IMAGE_TYPES,
            parameters=(
                Parameter("prompt", "str", "what to make, in words", required=True),
                Parameter(
                    "model",
                    "str",
                    "the service's model name",
                    default=self.settings.openai_images.model,
                ),
                Parameter(
                    "n", "int", "how many variants", default=1, minimum=1, maximum=MAX_VARIANTS
                ),
                Parameter("size", "str", "WIDTHxHEIGHT in pixels, or 'auto'"),
                Parameter("quality", "str", "the service's quality setting", choices=QUALITIES),
            ),
            seeded=False,  # the API takes no seed: the same request gives new images
            remote=True,
        )

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse what the service could not take; the parameters with the model filled in.

        Reads only image headers. The API key is not needed yet: it is checked
        where the work runs.
        """
        effective = check_parameters(NAME, self.capabilities, parameters)
        prompt = effective["prompt"]
        if not prompt.strip():
            raise bad_parameter(NAME, "'prompt' is empty; say in words what to make.")
        if len(prompt) > MAX_PROMPT:
            raise bad_parameter(
                NAME, f"'prompt' has {len(prompt)} characters; keep it to {MAX_PROMPT}."
            )
        if not effective["model"].strip():
            raise bad_parameter(NAME, "'model' is empty; name the service's image model.")
        if "size" in effective and not _SIZE.match(effective["size"]):
            raise bad_parameter(
                NAME,
                f"'size' must be WIDTHxHEIGHT (e.g. '1024x1024') or 'auto', not "
                f"{effective['size']!r}.",
            )
        images, mask = _roles(inputs)
        if mask is not None:
            image_size = _header(inputs[images[0]])
            mask_size = _header(inputs[mask])
            if image_size != mask_size:
                raise InvalidInput(
                    f"The mask is {mask_size[0]}x{mask_size[1]} pixels but the image is "
                    f"{image_size[0]}x{image_size[1]}; export the mask at the image's size.",
                    code=f"backend.{NAME}.mask_size_mismatch",
                    image_size=list(image_size),
                    mask_size=list(mask_size),
                )
        for item in inputs:
            if item.path.stat().st_size > MAX_INPUT_BYTES:
                raise InvalidInput(
                    f"The {item.part} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MB, "
                    "more than the service takes; send a smaller file.",
                    code=f"backend.{NAME}.input_too_large",
                    part=item.part,
                )
        return effective

    def work(self, task: Task) -> BackendResult:
        """Ask the service for the images and write them into ``out_dir``.

        ``seed`` is ignored: the API has none, and the result says so (``None``).
        """
        inputs, effective, out_dir, _, progress = task
        config = self.settings.openai_images
        if not config.api_key:
            raise InvalidInput(
                "No API key is set for the OpenAI-compatible image service on this "
                "worker; set GREENLIGHT_OPENAI_API_KEY and run the request again.",
                code=f"backend.{NAME}.not_configured",
            )
        images, mask = _roles(inputs)
        endpoint = "edits" if images else "generations"
        host = urlsplit(config.base_url).netloc or config.base_url
        deadline = Deadline(NAME, config.time_limit, "GREENLIGHT_OPENAI_TIME_LIMIT")
        progress(0.05, f"asking {host} for {effective['n']} image(s)")
        with VendorService(
            NAME,
            config.base_url,
            self.settings.http,
            deadline,
            api_key=config.api_key,
            key_setting="GREENLIGHT_OPENAI_API_KEY",
            on_retry=lambda stage: progress(0.05, stage),
        ) as service:
            doing = f"asking for images ({endpoint})"
            if endpoint == "generations":
                response = service.call(
                    "POST", "images/generations", doing, json=_fields(effective)
                )
            else:
                form = {key: str(value) for key, value in _fields(effective).items()}
                files = _files(inputs, images, mask)
                response = service.call("POST", "images/edits", doing, data=form, files=files)
            body = service.json(response, doing)
            progress(0.8, "checking the images that came back")
            received = _received(service, body)
            log = service.log.describe()

        stem = "generated" if not images else f"{inputs[images[0]].path.stem}_edit"
        named = [
            (f"{stem}_{k}{EXTENSIONS[image.media_type]}", image)
            for k, image in enumerate(received, start=1)
        ]
        paths = write_all(out_dir, [(name, image.data) for name, image in named])
        progress(1.0, f"{len(paths)} image(s) written")

        service_usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        cost, basis = _cost(config.rate_card.get(effective["model"]), service_usage, len(paths))
        parents = tuple(images) + ((mask,) if mask is not None else ())
        usage: dict[str, Any] = {
            "service": host,
            "endpoint": endpoint,
            "images_requested": effective["n"],
            "images": len(paths),
            "sizes": [f"{image.width}x{image.height}" for _, image in named],
            "cost_basis": basis,
            **log,
        }
        if service_usage is not None:
            usage["service_usage"] = service_usage
        return BackendResult(
            outputs=tuple(
                BackendOutput(path=path, media_type=image.media_type, parents=parents)
                for path, (_, image) in zip(paths, named, strict=True)
            ),
            model=effective["model"],
            model_version=effective["model"],  # the API names versions in the model name
            parameters=effective,
            seed=None,
            usage=usage,
            cost_usd=cost,
            kind="edited" if images else "generated",
        )


# Checking the request.


def _roles(inputs: Sequence[BackendInput]) -> tuple[list[int], int | None]:
    """Positions of the images and of the mask (if any)."""
    others = sorted({item.part for item in inputs} - {"image", "mask"})
    if others:
        raise InvalidInput(
            f"This backend takes 'image' inputs and optionally one 'mask', not "
            f"{', '.join(others)}; remove the other inputs.",
            code=f"backend.{NAME}.unexpected_input",
            parts=others,
        )
    images = [i for i, item in enumerate(inputs) if item.part == "image"]
    masks = [i for i, item in enumerate(inputs) if item.part == "mask"]
    if masks and not images:
        raise InvalidInput(
            "A mask was given without an image; send the image to edit as the input named 'image'.",
            code=f"backend.{NAME}.mask_without_image",
        )
    if len(masks) > 1 or len(images) > MAX_IMAGES:
        raise InvalidInput(
            f"An edit takes at most {MAX_IMAGES} images and one mask; send the others as "
            "separate requests.",
            code=f"backend.{NAME}.too_many_inputs",
        )
    for i in images + masks:
        allowed = _IMAGE_TYPES if inputs[i].part == "image" else ("image/png",)
        if inputs[i].media_type not in allowed:
            kinds = " or ".join(a.split("/")[1].upper() for a in allowed)
            raise InvalidInput(
                f"The {inputs[i].part} must be {kinds} "
                f"(sent as {inputs[i].media_type}); convert it and try again.",
                code=f"backend.{NAME}.unsupported_type",
                part=inputs[i].part,
            )
    return images, masks[0] if masks else None


def _header(item: BackendInput) -> tuple[int, int]:
    try:
        with Image.open(item.path) as image:
            width, height = image.size
    except Exception:  # Pillow raises many types on bad or missing files
        raise InvalidInput(
            f"The {item.part} is missing, damaged or not an image; export it again and "
            "send the new file.",
            code=f"backend.{NAME}.unreadable_image",
            part=item.part,
        ) from None
    return width, height


# Talking to the service.


def _fields(effective: Mapping[str, Any]) -> dict[str, Any]:
    """The request body's fields (the prompt included; the key is a header, never here)."""
    fields: dict[str, Any] = {
        "model": effective["model"],
        "prompt": effective["prompt"],
        "n": effective["n"],
    }
    for key in ("size", "quality"):
        if key in effective:
            fields[key] = effective[key]
    # GPT image models always answer in base64 and refuse the field; older and
    # compatible services answer with URLs unless asked.
    if not effective["model"].startswith("gpt-image"):
        fields["response_format"] = "b64_json"
    return fields


def _files(
    inputs: Sequence[BackendInput], images: list[int], mask: int | None
) -> list[tuple[str, tuple[str, bytes, str]]]:
    field = "image" if len(images) == 1 else "image[]"
    files = [
        (field, (inputs[i].path.name, inputs[i].path.read_bytes(), inputs[i].media_type))
        for i in images
    ]
    if mask is not None:
        files.append(("mask", (inputs[mask].path.name, _api_mask(inputs[mask]), "image/png")))
    return files


def _api_mask(item: BackendInput) -> bytes:
    """The mask in the API's terms: fully transparent where the image may change."""
    with Image.open(item.path) as image:
        if "A" in image.getbands() or "transparency" in image.info:
            return item.path.read_bytes()
        marked = np.asarray(image.convert("L")) != 0
    alpha = np.where(marked, 0, 255).astype(np.uint8)
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _received(service: VendorService, body: Any) -> list[ReceivedImage]:
    """The images in a response body, each decoded and checked."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        raise service.bad_response("answered without any image (no 'data' list)")
    received = []
    for number, item in enumerate(data, start=1):
        encoded = item.get("b64_json") if isinstance(item, dict) else None
        if not isinstance(encoded, str):
            if isinstance(item, dict) and "url" in item:
                raise service.bad_response(
                    f"sent image {number} as a URL instead of base64 (b64_json); use a "
                    "service or model that returns b64_json"
                )
            raise service.bad_response(f"sent image {number} without its b64_json data")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise service.bad_response(f"sent image {number} as invalid base64") from None
        received.append(checked_image(service, raw, f"image {number}"))
    return received


def _cost(
    prices: Mapping[str, Decimal] | None, usage: Mapping[str, Any] | None, images: int
) -> tuple[Decimal | None, str | None]:
    """The run's cost in US dollars and where it came from.

    The service's own figure wins; then tokens at the rate card's token prices;
    then images at its per-image price; with none of those the cost is unknown.
    """
    reported = _decimal(usage.get("cost")) if usage else None
    if reported is not None:
        return reported, "reported"
    prices = prices or {}
    price_in = prices.get("input_tokens_per_million")
    price_out = prices.get("output_tokens_per_million")
    if usage and price_in is not None and price_out is not None:
        tokens_in = _decimal(usage.get("input_tokens"))
        tokens_out = _decimal(usage.get("output_tokens"))
        if tokens_in is not None and tokens_out is not None:
            return (tokens_in * price_in + tokens_out * price_out) / 1_000_000, "tokens"
    if "per_image" in prices:
        return prices["per_image"] * images, "per_image"
    return None, None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None
