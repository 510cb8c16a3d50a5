"""Generation backends: one task, one model, one module each.

A backend gets input files and parameters and gives back output files, usage and
timings; it knows nothing of policy, consent, the ledger or the database. The
lifecycle picks one by name and calls it in two steps::

    backend = backend_for("inpaint-opencv")
    parameters = backend.check(inputs, request_parameters)   # before queueing
    result = backend.run(inputs, parameters, out_dir)          # in the worker

Every refusal is ``InvalidInput`` with a code under ``backend.<name>.``.
"""

from collections.abc import Callable

from greenlight.backends.asr_whisper import WhisperASRBackend  # loads the model only to run
from greenlight.backends.base import Backend, BackendInput, BackendOutput, BackendResult
from greenlight.backends.comfyui import ComfyUIBackend
from greenlight.backends.diffusers_images import DiffusersBackend  # imports torch only to run
from greenlight.backends.inpaint_opencv import OpenCVInpaintBackend
from greenlight.backends.inpaint_patchmatch import PatchMatchInpaintBackend
from greenlight.backends.mt_apertium import ApertiumBackend
from greenlight.backends.mt_http import HttpMTBackend
from greenlight.backends.openai_images import OpenAIImagesBackend
from greenlight.backends.tts_espeak import EspeakBackend
from greenlight.backends.tts_piper import PiperBackend  # imports piper only to run
from greenlight.core.errors import NotFound
from greenlight.core.settings import Settings


def _diffusers(settings: Settings | None) -> Backend:
    return DiffusersBackend() if settings is None else DiffusersBackend.from_settings(settings)


# name -> how to build it for an installation's settings (None: from the environment).
_REGISTRY: dict[str, Callable[[Settings | None], Backend]] = {
    DiffusersBackend.name: _diffusers,
    OpenCVInpaintBackend.name: lambda settings: OpenCVInpaintBackend(),
    PatchMatchInpaintBackend.name: lambda settings: PatchMatchInpaintBackend(),
    OpenAIImagesBackend.name: OpenAIImagesBackend,
    ComfyUIBackend.name: ComfyUIBackend,
    ApertiumBackend.name: ApertiumBackend,
    HttpMTBackend.name: HttpMTBackend,
    WhisperASRBackend.name: WhisperASRBackend.from_settings,
    EspeakBackend.name: lambda settings: EspeakBackend(),
    PiperBackend.name: lambda settings: PiperBackend(),
}

BACKENDS: tuple[str, ...] = tuple(sorted(_REGISTRY))
"""The names :func:`backend_for` knows."""


def backend_for(name: str, settings: Settings | None = None) -> Backend:
    """The backend called ``name``, configured by ``settings`` (default: the environment).

    ``NotFound`` (``backend.unknown``) if there is none.
    """
    factory = _REGISTRY.get(name)
    if factory is None:
        raise NotFound(
            f"There is no backend called {name!r}; choose one of {', '.join(BACKENDS)}.",
            code="backend.unknown",
            backend=name,
            known=list(BACKENDS),
        )
    return factory(settings)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendInput",
    "BackendOutput",
    "BackendResult",
    "OpenCVInpaintBackend",
    "PatchMatchInpaintBackend",
    "backend_for",
]
