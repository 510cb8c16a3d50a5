"""Subtitle translation by a studio's MT vendor over HTTP (a simple JSON API).

The vendor's service answers one call, documented here for vendors to build to::

    POST {GREENLIGHT_MT_URL}/translate
    Authorization: Bearer {GREENLIGHT_MT_API_KEY}          (when a key is set)
    {"source": "en", "target": "es", "segments": ["Where is the ship?", ...]}

    200 {"translations": ["¿Dónde está la nave?", ...],    one per segment, in order
         "model": "vendor-mt-2"}                           optional: recorded as the model

Segments are plain text that may hold ``<i>``/``</i>`` italics, which the
service keeps around the words they cover, and glossary placeholders
(``zgl0q``, ``zgl1q``...) which it must pass through unchanged. A track goes in
calls of at most ``GREENLIGHT_MT_BATCH`` segments (200 by default). Errors,
time limits and retries are ``backends._http``'s: 429 and 5xx are tried again,
401/403 and other 4xx are not, and a body that is not the answer above fails
the run as ``backend.mt-http.bad_response`` with nothing kept.

Configuration, never request parameters: ``GREENLIGHT_MT_URL``,
``GREENLIGHT_MT_API_KEY`` (never written to parameters, usage or errors),
``GREENLIGHT_MT_TIME_LIMIT`` (seconds, 300) and ``GREENLIGHT_MT_BATCH``; the
HTTP timeouts and retries are ``GREENLIGHT_HTTP_*``. Data leaves the studio:
``capabilities.remote`` is true.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from greenlight.backends import _mt
from greenlight.backends._http import Deadline, VendorService
from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    CheckedBackend,
    Task,
)
from greenlight.core.errors import InvalidInput
from greenlight.core.settings import Settings

NAME = "mt-http"
DEFAULT_BATCH = 200


@dataclass(frozen=True)
class MTVendorSettings:
    """Where the studio's MT service is, its key, how long a run may take, the batch size."""

    url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    time_limit: float = 300.0
    batch: int = DEFAULT_BATCH

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MTVendorSettings:
        """``GREENLIGHT_MT_URL``, ``_API_KEY``, ``_TIME_LIMIT`` and ``_BATCH``."""
        env = os.environ if environ is None else environ
        limit, batch = env.get("GREENLIGHT_MT_TIME_LIMIT"), env.get("GREENLIGHT_MT_BATCH")
        try:
            time_limit = float(limit) if limit else cls.time_limit
            size = int(batch) if batch else DEFAULT_BATCH
        except ValueError:
            time_limit, size = -1.0, -1
        if not 0 < time_limit < float("inf") or size < 1:
            raise InvalidInput(
                "GREENLIGHT_MT_TIME_LIMIT must be a number of seconds above zero and "
                "GREENLIGHT_MT_BATCH a whole number from 1; fix them in the environment.",
                code="settings.bad_value",
            )
        return cls(
            url=env.get("GREENLIGHT_MT_URL") or None,
            api_key=env.get("GREENLIGHT_MT_API_KEY") or None,
            time_limit=time_limit,
            batch=size,
        )


class HttpMTBackend(CheckedBackend):
    """Subtitle translation by the studio's MT vendor."""

    name = NAME

    def __init__(
        self, settings: Settings | None = None, vendor: MTVendorSettings | None = None
    ) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.vendor = vendor if vendor is not None else MTVendorSettings.from_env()
        self.capabilities = _mt.capabilities(remote=True)

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse bad languages, glossary, memory or subtitles before any call is made."""
        return _mt.check_task(NAME, self.capabilities, inputs, parameters)

    def work(self, task: Task) -> BackendResult:
        """Send the track's segments to the vendor; write the translation and its report."""
        inputs, effective, out_dir, _, progress = task
        if not self.vendor.url:
            raise InvalidInput(
                "No MT service is configured on this worker; set GREENLIGHT_MT_URL (and "
                "GREENLIGHT_MT_API_KEY) and run the request again.",
                code=f"backend.{NAME}.not_configured",
            )
        request = _mt.read_request(NAME, effective)
        item = inputs[0]
        track = _mt.read_subtitles(NAME, item, request.source)
        host = urlsplit(self.vendor.url).netloc or self.vendor.url
        deadline = Deadline(NAME, self.vendor.time_limit, "GREENLIGHT_MT_TIME_LIMIT")
        models: list[str] = []
        with VendorService(
            NAME,
            self.vendor.url,
            self.settings.http,
            deadline,
            api_key=self.vendor.api_key,
            key_setting="GREENLIGHT_MT_API_KEY",
            on_retry=lambda stage: progress(0.1, stage),
        ) as service:

            def engine(segments: list[str]) -> list[str]:
                translated: list[str] = []
                for at in range(0, len(segments), self.vendor.batch):
                    chunk = segments[at : at + self.vendor.batch]
                    progress(0.1 + 0.8 * at / len(segments), f"translating on {host}")
                    doing = f"translating segments {at + 1} to {at + len(chunk)}"
                    body = service.json(
                        service.call(
                            "POST",
                            "translate",
                            doing,
                            json={
                                "source": request.source,
                                "target": request.target,
                                "segments": chunk,
                            },
                        ),
                        doing,
                    )
                    translated += _translations(service, body, len(chunk))
                    if isinstance(body.get("model"), str) and body["model"] not in models:
                        models.append(body["model"][:100])
                return translated

            result = _mt.translate_track(track, request, engine)
            log = service.log.describe()
        media_type = item.media_type
        subtitles, report = _mt.write_outputs(out_dir, item, result)
        progress(1.0, f"{len(track.cues)} cues translated")
        model = ", ".join(models) or host
        return BackendResult(
            outputs=(
                BackendOutput(subtitles, media_type, (0,)),
                BackendOutput(report, _mt.REPORT, (0,)),
            ),
            model=model,
            model_version=model,
            parameters=effective,
            seed=None,
            usage={
                "service": host,
                "cues": len(track.cues),
                "segments_translated": result.segments_sent,
                "from_memory": result.from_memory,
                "glossary_issues": result.glossary_issues,
                **log,
            },
            cost_usd=None,
            kind="edited",
        )


def _translations(service: VendorService, body: Any, expected: int) -> list[str]:
    """The ``translations`` of an answer, one text per segment sent."""
    found = body.get("translations") if isinstance(body, dict) else None
    if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
        raise service.bad_response("answered without a 'translations' list of texts")
    if len(found) != expected:
        raise service.bad_response(f"sent {len(found)} translations for {expected} segments")
    return found
