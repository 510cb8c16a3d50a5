"""Where Greenlight keeps its data, read from the environment.

``Settings.from_env`` is a pure function of the mapping it is given, so tests
build settings without touching ``os.environ``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from greenlight.core.errors import InvalidInput

DEFAULT_DATA_DIR = "greenlight-data"
DEFAULT_LEDGER_ORIGIN = "greenlight.local/ledger"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-image-1"


@dataclass(frozen=True)
class HttpPolicy:
    """How Greenlight waits for, and retries, a vendor's HTTP service.

    ``retries`` is how many times a failed call is tried again (connection
    errors, 5xx, rate limits); the wait doubles from ``backoff`` seconds, with
    jitter, and never exceeds ``max_wait`` (a server's ``Retry-After`` included).
    """

    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retries: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0


@dataclass(frozen=True)
class ComfyUISettings:
    """Where the studio's ComfyUI runs and which workflows requests may name.

    ``workflows_dir`` holds the vetted workflow files (``<name>.json``);
    ``api_key`` is sent as a bearer token, for a ComfyUI behind an
    authenticating proxy. ``poll_interval`` and ``time_limit`` are seconds.
    """

    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    workflows_dir: Path | None = None
    poll_interval: float = 1.0
    time_limit: float = 600.0


@dataclass(frozen=True)
class OpenAIImagesSettings:
    """An OpenAI-compatible image API: where it is, the key, the model, the prices.

    ``rate_card`` maps a model name to its prices in US dollars:
    ``per_image``, ``input_tokens_per_million``, ``output_tokens_per_million``.
    The key is never shown (``repr`` leaves it out).
    """

    base_url: str = DEFAULT_OPENAI_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    model: str = DEFAULT_OPENAI_MODEL
    rate_card: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    time_limit: float = 300.0


@dataclass(frozen=True)
class LocalModels:
    """Model weights kept on this installation's disks, and what runs them.

    ``root`` holds one folder per model (``None``: ``models`` under the data
    directory); ``device`` is ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``threads``
    caps torch's CPU threads, 1 by default because workers share the machine and
    spin-waiting threads slow everyone down.
    """

    root: Path | None = None
    device: str = "cpu"
    threads: int = 1


LIKENESS_SCOPES = ("production", "studio")
"""Whose enrolled faces and voices outputs are scanned for."""


@dataclass(frozen=True)
class Settings:
    """Paths and URLs for one Greenlight installation."""

    data_dir: Path
    database_url: str
    ledger_origin: str = DEFAULT_LEDGER_ORIGIN
    http: HttpPolicy = field(default_factory=HttpPolicy)
    comfyui: ComfyUISettings = field(default_factory=ComfyUISettings)
    openai_images: OpenAIImagesSettings = field(default_factory=OpenAIImagesSettings)
    local_models: LocalModels = field(default_factory=LocalModels)
    likeness_scope: str = "production"  # or "studio": every enrolled performer, any production

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``GREENLIGHT_DATA_DIR``, ``GREENLIGHT_DATABASE_URL`` and
        ``GREENLIGHT_LEDGER_ORIGIN``; defaults give an embedded SQLite setup
        under ``./greenlight-data``.

        Vendor services: ``GREENLIGHT_HTTP_*`` (timeouts and retries),
        ``GREENLIGHT_COMFYUI_*`` and ``GREENLIGHT_OPENAI_*``; see
        :func:`_remote_from_env`."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("GREENLIGHT_DATA_DIR", DEFAULT_DATA_DIR)).absolute()
        url = env.get("GREENLIGHT_DATABASE_URL") or f"sqlite:///{data_dir / 'greenlight.db'}"
        origin = env.get("GREENLIGHT_LEDGER_ORIGIN", DEFAULT_LEDGER_ORIGIN)
        http, comfyui, openai_images = _remote_from_env(env, data_dir)
        scope = env.get("GREENLIGHT_LIKENESS_SCOPE", "production")
        if scope not in LIKENESS_SCOPES:
            raise InvalidInput(
                f"GREENLIGHT_LIKENESS_SCOPE is {scope!r}; set it to 'production' (the "
                "production's performers) or 'studio' (every enrolled performer).",
                code="settings.bad_value",
            )
        return cls(
            data_dir=data_dir,
            database_url=url,
            ledger_origin=origin,
            http=http,
            comfyui=comfyui,
            openai_images=openai_images,
            local_models=_local_models_from_env(env, data_dir),
            likeness_scope=scope,
        )

    @property
    def keys_dir(self) -> Path:
        """Private keys (mode 0600) and the public trust anchors."""
        return self.data_dir / "keys"

    @property
    def models_dir(self) -> Path:
        """Where local model folders live (``GREENLIGHT_MODELS_DIR``)."""
        return self.local_models.root or self.data_dir / "models"


def _local_models_from_env(env: Mapping[str, str], data_dir: Path) -> LocalModels:
    """``GREENLIGHT_MODELS_DIR`` (default ``<data dir>/models``),
    ``GREENLIGHT_DIFFUSERS_DEVICE`` (``cpu``, ``cuda`` or ``cuda:N``) and
    ``GREENLIGHT_TORCH_THREADS`` (a whole number from 1)."""
    root = env.get("GREENLIGHT_MODELS_DIR")
    device = env.get("GREENLIGHT_DIFFUSERS_DEVICE") or "cpu"
    kind, _, number = device.partition(":")
    if not (device == "cpu" or (kind == "cuda" and (not number or number.isdigit()))):
        raise InvalidInput(
            f"GREENLIGHT_DIFFUSERS_DEVICE must be cpu, cuda or cuda:N, not {device!r}; "
            "fix it in the environment.",
            code="settings.bad_value",
            setting="GREENLIGHT_DIFFUSERS_DEVICE",
        )
    raw_threads = env.get("GREENLIGHT_TORCH_THREADS") or "1"
    if not raw_threads.isdigit() or int(raw_threads) < 1:
        raise InvalidInput(
            f"GREENLIGHT_TORCH_THREADS must be a whole number from 1, not {raw_threads!r}; "
            "fix it in the environment.",
            code="settings.bad_value",
            setting="GREENLIGHT_TORCH_THREADS",
        )
    return LocalModels(
        root=Path(root).absolute() if root else data_dir / "models",
        device=device,
        threads=int(raw_threads),
    )


def _remote_from_env(
    env: Mapping[str, str], data_dir: Path
) -> tuple[HttpPolicy, ComfyUISettings, OpenAIImagesSettings]:
    """The vendor-service settings.

    ``GREENLIGHT_HTTP_CONNECT_TIMEOUT``, ``_READ_TIMEOUT``, ``_RETRIES``,
    ``_BACKOFF`` and ``_MAX_WAIT``; ``GREENLIGHT_COMFYUI_URL``, ``_API_KEY``,
    ``_WORKFLOWS_DIR`` (default ``<data dir>/workflows/comfyui``),
    ``_POLL_INTERVAL`` and ``_TIME_LIMIT``; ``GREENLIGHT_OPENAI_BASE_URL``,
    ``_API_KEY``, ``_MODEL``, ``_RATE_CARD`` (JSON) and ``_TIME_LIMIT``.
    """
    defaults = HttpPolicy()
    http = HttpPolicy(
        connect_timeout=_seconds(env, "GREENLIGHT_HTTP_CONNECT_TIMEOUT", defaults.connect_timeout),
        read_timeout=_seconds(env, "GREENLIGHT_HTTP_READ_TIMEOUT", defaults.read_timeout),
        retries=int(_seconds(env, "GREENLIGHT_HTTP_RETRIES", defaults.retries, whole=True)),
        backoff=_seconds(env, "GREENLIGHT_HTTP_BACKOFF", defaults.backoff),
        max_wait=_seconds(env, "GREENLIGHT_HTTP_MAX_WAIT", defaults.max_wait),
    )
    comfy = ComfyUISettings()
    workflows = env.get("GREENLIGHT_COMFYUI_WORKFLOWS_DIR")
    comfyui = ComfyUISettings(
        url=env.get("GREENLIGHT_COMFYUI_URL") or None,
        api_key=env.get("GREENLIGHT_COMFYUI_API_KEY") or None,
        workflows_dir=Path(workflows).absolute() if workflows else data_dir / "workflows/comfyui",
        poll_interval=_seconds(env, "GREENLIGHT_COMFYUI_POLL_INTERVAL", comfy.poll_interval),
        time_limit=_seconds(env, "GREENLIGHT_COMFYUI_TIME_LIMIT", comfy.time_limit),
    )
    openai = OpenAIImagesSettings()
    openai_images = OpenAIImagesSettings(
        base_url=env.get("GREENLIGHT_OPENAI_BASE_URL") or openai.base_url,
        api_key=env.get("GREENLIGHT_OPENAI_API_KEY") or None,
        model=env.get("GREENLIGHT_OPENAI_MODEL") or openai.model,
        rate_card=_rate_card(env.get("GREENLIGHT_OPENAI_RATE_CARD")),
        time_limit=_seconds(env, "GREENLIGHT_OPENAI_TIME_LIMIT", openai.time_limit),
    )
    return http, comfyui, openai_images


def _seconds(env: Mapping[str, str], name: str, default: float, *, whole: bool = False) -> float:
    """A non-negative number from the environment, or ``default`` when unset."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = -1
    if not value >= 0 or value == float("inf"):
        kind = "a whole number" if whole else "a number of seconds"
        raise InvalidInput(
            f"{name} must be {kind}, zero or more, not {raw!r}; fix it in the environment.",
            code="settings.bad_value",
            setting=name,
        )
    return value


def _rate_card(raw: str | None) -> dict[str, dict[str, Decimal]]:
    """``{"model": {"per_image": "0.04", ...}}`` from JSON, prices as decimals."""
    if not raw:
        return {}
    prices = ("per_image", "input_tokens_per_million", "output_tokens_per_million")
    hint = (
        'GREENLIGHT_OPENAI_RATE_CARD must be JSON like {"gpt-image-1": {"per_image": "0.04"}}, '
        f"with prices in US dollars under {', '.join(prices)}"
    )
    try:
        card: Any = json.loads(raw)
    except ValueError:
        card = None
    if not isinstance(card, dict):
        raise InvalidInput(f"{hint}.", code="settings.bad_value", setting="rate_card")
    parsed: dict[str, dict[str, Decimal]] = {}
    for model, entry in card.items():
        if not isinstance(entry, dict) or not entry or set(entry) - set(prices):
            raise InvalidInput(f"{hint}; {model!r} is not.", code="settings.bad_value")
        parsed[model] = {}
        for key, value in entry.items():
            try:
                price = Decimal(str(value)) if not isinstance(value, bool) else Decimal("NaN")
            except InvalidOperation:
                price = Decimal("NaN")
            if not price.is_finite() or price < 0:
                raise InvalidInput(
                    f"{hint}; {model}.{key} is {value!r}.", code="settings.bad_value"
                )
            parsed[model][key] = price
    return parsed
