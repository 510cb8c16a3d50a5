"""Talking to a vendor's HTTP service: time limits, retries, and errors that teach.

Shared by the backends that call out (``comfyui``, ``openai-images``). One
:class:`VendorService` per run wraps an ``httpx`` client (separate connect and
read timeouts, multipart uploads, connection reuse between polls) and gives
every call the same treatment:

- connection errors, timeouts before the run's time limit, 5xx answers and 429
  rate limits are tried again, waiting ``backoff * 2**n`` seconds with jitter,
  or what the service's ``Retry-After`` asks, never more than ``max_wait``;
- 401/403 (a wrong key), 429 or 402 for an exhausted quota, and other 4xx
  answers (the request itself is wrong) are never retried: trying again
  cannot help and may be billed;
- every failure has a code under ``backend.<name>.`` and says what to do: a
  refusal (``InvalidInput``, 422) when the request or the key is wrong, a 503
  (``Unavailable``) when the service may do better later, so the queue tries
  the run again after its back-off; no message ever carries the API key.

A run's :class:`Deadline` bounds everything, waits included, so a hanging
service ends the run as ``backend.<name>.timed_out`` instead of holding a worker.
"""

from __future__ import annotations

import io
import math
import random
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from greenlight.backends.base import all_or_nothing
from greenlight.core.errors import InvalidInput, Unavailable
from greenlight.core.settings import HttpPolicy

MAX_PIXELS = 80_000_000
"""Largest image (width x height) accepted back from a service."""

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
"""Image formats a service may send back, by Pillow's name, and their media types."""

_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"})
_SECRET_LOOKALIKE = re.compile(r"\b(sk|key|token)-[\w*.\-]{6,}", re.IGNORECASE)
_MESSAGE_LIMIT = 300

Rejection = Callable[[httpx.Response], InvalidInput]
"""Builds the error for a 4xx answer that is not about the key or the quota."""


def transient(message: str, *, code: str, **details: Any) -> Unavailable:
    """The error for a failure that may pass if the run is tried later: the service
    is down, overloaded, limiting our rate or too slow. A 503, so the queue tries the
    run again after its back-off (each call here has already been retried).
    """
    return Unavailable(message, code=code, **details)


class Deadline:
    """The moment a run must be over by, and the error when it is."""

    def __init__(self, backend: str, seconds: float, setting: str) -> None:
        self.backend = backend
        self.seconds = seconds
        self.setting = setting
        self._ends = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never below zero."""
        return max(0.0, self._ends - time.monotonic())

    def expired(self) -> bool:
        """Whether the time limit has passed."""
        return self.remaining() <= 0

    def error(self, doing: str) -> Unavailable:
        """The ``timed_out`` refusal, naming what was under way."""
        return transient(
            f"{self.backend} did not finish within its time limit of {self.seconds:g} s "
            f"(while {doing}); try again later, or raise {self.setting} if this work "
            "needs longer.",
            code=f"backend.{self.backend}.timed_out",
            time_limit_s=self.seconds,
        )


@dataclass
class CallLog:
    """How many calls a run made and why some were retried (recorded in usage)."""

    attempts: int = 0
    retries: int = 0
    retry_reasons: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """JSON for the run's usage."""
        return {
            "http_attempts": self.attempts,
            "http_retries": self.retries,
            "http_retry_reasons": list(self.retry_reasons),
        }


class VendorService:
    """One run's connection to a vendor's HTTP service.

    ``api_key`` is sent as a bearer token and is redacted from anything this
    class raises; ``key_setting`` names the setting that holds it, for the
    message when the service turns it down. ``on_retry`` hears about every wait
    (the backend turns it into progress).
    """

    def __init__(
        self,
        backend: str,
        base_url: str,
        policy: HttpPolicy,
        deadline: Deadline,
        *,
        api_key: str | None = None,
        key_setting: str,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self.deadline = deadline
        self.log = CallLog()
        self._key = api_key
        self._key_setting = key_setting
        self._on_retry = on_retry
        headers = {"User-Agent": "greenlight"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers)

    def __enter__(self) -> VendorService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connections."""
        self._client.close()

    def call(
        self,
        method: str,
        path: str,
        doing: str,
        *,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Sequence[tuple[str, tuple[str, bytes, str]]] | None = None,
        params: Mapping[str, str] | None = None,
        rejected: Rejection | None = None,
    ) -> httpx.Response:
        """Make one call, retrying what may succeed next time; the 2xx answer.

        ``doing`` says what the call is for, in the words of an error message
        ("submitting the workflow"); ``rejected`` builds the error for a 4xx
        answer that is neither about the key nor about the quota.
        """
        last = ""
        for attempt in range(self.policy.retries + 1):
            if self.deadline.expired():
                raise self.deadline.error(doing)
            self.log.attempts += 1
            try:
                response = self._client.request(
                    method,
                    path.lstrip("/"),
                    json=json,
                    data=data,
                    files=files,
                    params=params,
                    timeout=self._timeout(),
                )
            except httpx.TimeoutException:
                if self.deadline.expired():
                    raise self.deadline.error(doing) from None
                last, wait = "timeout", self._backoff(attempt)
            except httpx.TransportError:
                last, wait = "connection", self._backoff(attempt)
            else:
                if response.is_success:
                    return response
                self._refuse_for_good(response, doing, rejected)
                last = str(response.status_code)
                asked = self._retry_after(response)
                wait = self._backoff(attempt) if asked is None else asked
            if attempt == self.policy.retries:
                break
            wait = min(wait, self.policy.max_wait)
            if wait >= self.deadline.remaining():
                raise self.deadline.error(f"{doing}, waiting to try again after {last}")
            self.log.retries += 1
            self.log.retry_reasons.append(last)
            if self._on_retry is not None:
                self._on_retry(f"{doing}: trying again in {wait:.1f} s after {_said(last)}")
            time.sleep(wait)
        raise self._gave_up(doing, last)

    def json(self, response: httpx.Response, doing: str) -> Any:
        """The answer's JSON body; ``bad_response`` when it is not JSON."""
        try:
            return response.json()
        except ValueError:
            raise self.bad_response(
                f"answered {doing} with something that is not JSON ({_snippet(response.content)})"
            ) from None

    def bad_response(self, what: str) -> InvalidInput:
        """The refusal for an answer that makes no sense: ``what`` says what was wrong."""
        return InvalidInput(
            f"The {self.backend} service {self.redact(what)}; nothing was kept. Check that "
            "the service's address points at the right kind of server and try again.",
            code=f"backend.{self.backend}.bad_response",
        )

    def redact(self, text: str) -> str:
        """``text`` without the API key or anything shaped like one, cut short."""
        if self._key:
            text = text.replace(self._key, "[redacted]")
        text = _SECRET_LOOKALIKE.sub("[redacted]", text)
        return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"

    def service_message(self, response: httpx.Response) -> str:
        """The service's own explanation of an error answer, redacted."""
        try:
            body = response.json()
        except ValueError:
            return self.redact(_snippet(response.content))
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("type") or error)
            if error.get("details"):
                message = f"{message}: {error['details']}"
        elif error is not None:
            message = str(error)
        else:
            message = _snippet(response.content)
        return self.redact(message)

    # The decisions.

    def _timeout(self) -> httpx.Timeout:
        left = self.deadline.remaining()
        read = max(0.001, min(self.policy.read_timeout, left))
        connect = max(0.001, min(self.policy.connect_timeout, left))
        return httpx.Timeout(read, connect=connect, pool=connect)

    def _backoff(self, attempt: int) -> float:
        base = self.policy.backoff * 2**attempt
        # Jitter, so that many workers refused at once do not come back at once.
        return float(base / 2 + random.uniform(0, base / 2))

    def _retry_after(self, response: httpx.Response) -> float | None:
        """The wait a 429 or 503 asks for (``retry-after-ms`` or ``Retry-After``)."""
        millis = response.headers.get("retry-after-ms")
        if millis is not None:
            try:
                value = float(millis) / 1000
                if math.isfinite(value) and value >= 0:
                    return value
            except ValueError:
                pass
        header = response.headers.get("retry-after")
        if header is None:
            return None
        try:
            value = float(header)
            return value if math.isfinite(value) and value >= 0 else None
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())

    def _refuse_for_good(
        self, response: httpx.Response, doing: str, rejected: Rejection | None
    ) -> None:
        """Raise for an answer that no retry can fix; return for one that might."""
        status = response.status_code
        if status in (401, 403):
            # The service's own words are left out: some echo part of the key back.
            raise InvalidInput(
                f"The {self.backend} service refused the credentials while {doing} "
                f"(HTTP {status}); check the API key in {self._key_setting}.",
                code=f"backend.{self.backend}.unauthorized",
                status=status,
            )
        if status == 402 or (status == 429 and self._quota_code(response) is not None):
            raise InvalidInput(
                f"The {self.backend} account has run out of quota or credit "
                f"({self.service_message(response)}); add credit or raise the limit with "
                "the vendor, then run the request again.",
                code=f"backend.{self.backend}.quota_exhausted",
                status=status,
            )
        if status == 429 or status >= 500 or status == 408:
            return
        if rejected is not None:
            raise rejected(response)
        raise InvalidInput(
            f"The {self.backend} service turned down the request while {doing} "
            f"(HTTP {status}: {self.service_message(response)}); change the request's "
            "parameters or inputs and submit it again.",
            code=f"backend.{self.backend}.rejected",
            status=status,
        )

    @staticmethod
    def _quota_code(response: httpx.Response) -> str | None:
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None
        for key in ("code", "type"):
            if error.get(key) in _QUOTA_CODES:
                return str(error[key])
        return None

    def _gave_up(self, doing: str, last: str) -> Unavailable:
        tries = self.policy.retries + 1
        if last == "429":
            return transient(
                f"The {self.backend} service kept limiting our rate while {doing} "
                f"({tries} tries); wait a few minutes and run the request again, or ask the "
                "vendor for a higher rate limit.",
                code=f"backend.{self.backend}.rate_limited",
            )
        if last in ("connection", "timeout"):
            return transient(
                f"Could not reach the {self.backend} service while {doing} ({_said(last)}, "
                f"{tries} tries); check that it is running and that its address is right.",
                code=f"backend.{self.backend}.unreachable",
            )
        return transient(
            f"The {self.backend} service kept failing while {doing} ({_said(last)}, "
            f"{tries} tries); try again later, or ask its operators to look at their logs.",
            code=f"backend.{self.backend}.unavailable",
        )


def _said(reason: str) -> str:
    if reason == "connection":
        return "a connection error"
    if reason == "timeout":
        return "no answer in time"
    return f"HTTP {reason}"


def _snippet(content: bytes) -> str:
    text = content[:120].decode("utf-8", "replace").strip()
    return repr(text) if text else "an empty body"


# What came back.


@dataclass(frozen=True)
class ReceivedImage:
    """An image a service sent back, checked to decode completely."""

    data: bytes
    media_type: str
    width: int
    height: int


def checked_image(service: VendorService, data: bytes, what: str) -> ReceivedImage:
    """``data`` decoded end to end; ``bad_response`` if it is not a whole image.

    A truncated download or a body that is an error page in disguise must fail
    the run rather than be signed and stored.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                found, (width, height) = image.format, image.size
                if width * height > MAX_PIXELS:
                    raise service.bad_response(
                        f"sent {what} of {width}x{height} pixels, more than {MAX_PIXELS}"
                    )
                image.load()  # decodes every pixel: a cut-off file fails here
    except InvalidInput:
        raise
    except Exception:  # Pillow raises many types for damaged data
        raise service.bad_response(
            f"sent {what} that is damaged or cut short ({len(data)} bytes, "
            f"starting {_snippet(data[:16])})"
        ) from None
    media_type = IMAGE_TYPES.get(found or "")
    if media_type is None:
        raise service.bad_response(f"sent {what} as {found}, not PNG, JPEG or WebP")
    return ReceivedImage(data=data, media_type=media_type, width=width, height=height)


def write_all(out_dir: Path, files: Sequence[tuple[str, bytes]]) -> list[Path]:
    """Write every ``(name, data)`` into ``out_dir``, all or none (see :func:`all_or_nothing`)."""
    with all_or_nothing(out_dir) as staged:
        for name, data in files:
            staged.path(name).write_bytes(data)
    return [final for _, final in staged.pairs]


EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
"""The file extension written for each image media type."""
