"""The likeness scan: which registered performers appear in a run's outputs.

The lifecycle calls a :class:`LikenessScanner` on every output before anyone
sees it (``engine/runs.py``), with a :class:`ScanContext` saying whose work it
is and which performers the request declared and holds consent for. A match
is *covered* when the request declared the performer and a consent covers
them for this production, use and medium (the engine works that out when the
run starts); any other match quarantines the output for legal.

:class:`EnrolledTalentScanner` compares faces in images and in sampled video
frames (``likeness/faces.py``) and voices in audio (``likeness/voice.py``)
with the enrolled templates (``likeness/templates.py``) of the production's
performers, or of the whole studio. :class:`NoScan` finds nothing; the
platform uses it only where the face models are not installed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from greenlight.likeness import faces
from greenlight.likeness.templates import Gallery, Modality, production_talent, scanner_gallery
from greenlight.store import BlobStore, Database
from greenlight.store.registry import RegistryCache

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".mxf", ".m4v"})
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".flac", ".ogg", ".aac", ".opus"})
Scope = Literal["production", "studio"]


@dataclass(frozen=True)
class ScanContext:
    """Whose outputs are scanned, and for which performers the request is cleared.

    ``covered_talent``: declared on the request and covered by a consent for this
    production, use and medium; ``declared_talent``: every performer the request
    named (covered or not).
    """

    production_id: str
    covered_talent: tuple[str, ...] = ()
    declared_talent: tuple[str, ...] = ()
    use_case: str | None = None
    medium: str | None = None


@dataclass(frozen=True)
class Match:
    """A registered performer found in output ``output`` with confidence ``score`` (0..1).

    Faces carry the frame (0 for a still), its time in seconds and the box
    ``(left, top, width, height)``; voices the time span. ``evidence`` is the
    SHA-256 of the evidence frame (box drawn) in the blob store.
    """

    talent_id: str
    output: int
    score: float
    covered: bool  # whether the request's consents cover this performer
    modality: str = "face"
    model: str = ""
    frame: int | None = None
    time: float | None = None
    end: float | None = None
    box: tuple[int, int, int, int] | None = None
    evidence: str | None = None


@dataclass(frozen=True)
class ScanResult:
    """What a scan found and with which scanner."""

    scanner: str
    matches: tuple[Match, ...] = ()

    @property
    def uncovered(self) -> tuple[Match, ...]:
        """Matches that no consent on the request covers: these quarantine the output."""
        return tuple(m for m in self.matches if not m.covered)

    @property
    def evidence(self) -> tuple[str, ...]:
        """The blobs the scan stored (evidence frames), to delete if the run is not kept."""
        return tuple(dict.fromkeys(m.evidence for m in self.matches if m.evidence))


class LikenessScanner(Protocol):
    """Looks for registered performers in outputs."""

    @property
    def name(self) -> str:
        """Which scanner (and version) produced a result."""
        ...

    def scan(self, outputs: Sequence[Path], context: ScanContext) -> ScanResult:
        """Scan ``outputs`` of a run of ``context.production_id``."""
        ...


class NoScan:
    """No registered likenesses to look for: every output comes back clear."""

    @property
    def name(self) -> str:
        """Recorded on the ledger so nobody mistakes 'not scanned' for 'scanned clean'."""
        return "none"

    def scan(self, outputs: Sequence[Path], context: ScanContext) -> ScanResult:
        """Find nothing."""
        return ScanResult(scanner=self.name)


# --- finding performers in one file ---------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One sighting: a face in one frame, or a voice in one window."""

    talent_id: str
    modality: str
    distance: float  # faces: Euclidean distance; voices: 1 - similarity
    confidence: float
    frame: int | None = None
    time: float | None = None
    end: float | None = None
    box: faces.Box | None = None
    image: faces.Image | None = field(default=None, repr=False, compare=False)


def media_kind(path: Path) -> str:
    """``image``, ``video``, ``audio`` or ``other``, by the file's extension."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return "other"


REENCODE_EVERY = 4
"""Sampled frames after which a shot's faces are encoded again even if they stayed put."""


def face_hits(
    path: Path,
    gallery: Gallery,
    *,
    every_seconds: float = 1.0,
    detect_width: int | None = faces.DETECT_WIDTH,
    upsample: int = 1,
    skim: bool = False,
    processes: int = 1,
) -> Iterator[Hit]:
    """Every face in an image or in a video's sampled frames that matches someone in
    ``gallery`` (distance at most :data:`faces.THRESHOLD`), frame by frame.

    With ``processes`` above 1, a video longer than :data:`SPLIT_SECONDS` a
    process is cut into that many stretches scanned side by side; the hits come
    back in time order, and of each stretch only each performer's best sighting
    keeps its frame (the evidence), so a feature's hits do not fill memory.
    """
    if len(gallery) == 0:
        return
    kind = media_kind(path)
    if kind == "video" and processes > 1:
        stretches = _stretches(path, processes)
        if len(stretches) > 1:
            yield from _side_by_side(
                path, gallery, stretches, (every_seconds, detect_width, upsample, skim)
            )
            return
    if kind == "image":
        frames: Iterator[faces.Frame] = iter(
            [faces.Frame(0, 0.0, faces.read_image(path), shot_change=False)]
        )
    elif kind == "video":
        frames = faces.sample_frames(path, every_seconds=every_seconds, skim=skim)
    else:
        return
    yield from _hits_in(frames, gallery, detect_width=detect_width, upsample=upsample)


SPLIT_SECONDS = 120.0
"""The shortest stretch of video worth a process of its own (a worker starts in about 2 s)."""


def _hits_in(
    frames: Iterator[faces.Frame], gallery: Gallery, *, detect_width: int | None, upsample: int
) -> Iterator[Hit]:
    owners = np.asarray(gallery.talent_ids)
    in_shot: list[faces.Face] = []  # faces encoded since the last cut, reused when still there
    before: npt.NDArray[np.float32] | None = None  # the previous sample, in blocks
    looked: npt.NDArray[np.float32] | None = None  # the last sample looked at whole
    for number, frame in enumerate(frames):
        height, width = frame.image.shape[:2]
        now = faces.blocks(frame.image)
        within: faces.Box | None = None
        if frame.shot_change or before is None or looked is None:
            fresh = True
        elif number % REENCODE_EVERY == 0:
            # Every few samples the whole frame is looked at and every face encoded
            # afresh (someone stepping into another's place mid-shot, or a slow drift
            # the sample-to-sample test let pass, is seen within seconds), unless the
            # picture is still the one last looked at whole.
            fresh = faces.changed_region(looked, now, (width, height), in_shot) is not None
        else:
            fresh = False
            within = faces.changed_region(before, now, (width, height), in_shot)
        before = now
        if fresh:
            looked = now
            in_shot = faces.find_faces(frame.image, upsample=upsample, detect_width=detect_width)
        elif within is not None:
            in_shot = faces.find_faces(
                frame.image,
                upsample=upsample,
                detect_width=detect_width,
                known=in_shot,
                within=within,
            )
        for face in in_shot:
            found = faces.distances(face.encoding, gallery.vectors)
            # The nearest vector of each performer decides for them.
            for talent_id in dict.fromkeys(gallery.talent_ids):
                nearest = float(found[owners == talent_id].min())
                if nearest <= faces.THRESHOLD:
                    yield Hit(
                        talent_id=talent_id,
                        modality="face",
                        distance=nearest,
                        confidence=faces.confidence(nearest),
                        frame=frame.index,
                        time=frame.time,
                        box=face.box,
                        image=frame.image,
                    )


def _stretches(path: Path, processes: int) -> list[tuple[float, float | None]]:
    """``path`` cut into up to ``processes`` stretches of at least SPLIT_SECONDS."""
    import av

    try:
        with av.open(str(path)) as container:
            seconds = float(container.duration or 0) / av.time_base
    except (av.error.FFmpegError, OSError):
        return [(0.0, None)]  # unreadable: the one-process scan says why
    count = max(1, min(processes, int(seconds // SPLIT_SECONDS)))
    size = seconds / count
    return [(i * size, None if i == count - 1 else (i + 1) * size) for i in range(count)]


def _side_by_side(
    path: Path,
    gallery: Gallery,
    stretches: list[tuple[float, float | None]],
    options: tuple[float, int | None, int, bool],
) -> Iterator[Hit]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Spawned, not forked: the caller may be a server with threads holding locks.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(stretches), mp_context=spawn) as pool:
        jobs = [
            pool.submit(_stretch_hits, path, gallery, start, end, options)
            for start, end in stretches
        ]
        for job in jobs:
            yield from job.result()


def _stretch_hits(
    path: Path,
    gallery: Gallery,
    start: float,
    end: float | None,
    options: tuple[float, int | None, int, bool],
) -> list[Hit]:
    every_seconds, detect_width, upsample, skim = options
    frames = faces.sample_frames(path, every_seconds=every_seconds, skim=skim, start=start, end=end)
    hits = list(_hits_in(frames, gallery, detect_width=detect_width, upsample=upsample))
    best: dict[str, Hit] = {}
    for hit in hits:
        if hit.talent_id not in best or hit.distance < best[hit.talent_id].distance:
            best[hit.talent_id] = hit
    keep = {id(hit) for hit in best.values()}
    return [hit if id(hit) in keep else replace(hit, image=None) for hit in hits]


def voice_hits(path: Path, gallery: Gallery) -> Iterator[Hit]:
    """Every window of speech in an audio file whose voice matches someone in ``gallery``."""
    if len(gallery) == 0:
        return
    from greenlight.likeness import voice

    owners = np.asarray(gallery.talent_ids)
    for start, end, embedding in voice.voice_windows(path):
        similarities = gallery.vectors @ np.asarray(embedding, dtype=np.float32)
        for talent_id in dict.fromkeys(gallery.talent_ids):
            best = float(similarities[owners == talent_id].max())
            if best >= voice.THRESHOLD:
                yield Hit(
                    talent_id=talent_id,
                    modality="voice",
                    distance=1.0 - best,
                    confidence=_voice_confidence(best, voice.THRESHOLD),
                    time=start,
                    end=end,
                )


def _voice_confidence(similarity: float, threshold: float) -> float:
    """0.5 at the threshold, like faces; near 1 for the enrolled sample itself."""
    return 1.0 / (1.0 + math.exp(-(similarity - threshold) / 0.03))


# --- the scanner the lifecycle calls -------------------------------------------------------


class EnrolledTalentScanner:
    """Compares outputs with the enrolled templates of the production's performers
    (``scope="studio"``: of every enrolled performer).

    Video is skimmed (reference frames only, see :func:`faces.sample_frames`);
    ``upsample=1`` at ``detect_width=640`` finds faces from about 80 px across in
    a 720p frame, ``upsample=0`` from about 160 px at a quarter of the cost.

    Stores an evidence frame (PNG, box drawn) for each performer found in each
    output, in the blob store; the engine deletes them if the run is not kept.
    """

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        keys_dir: Path,
        *,
        scope: Scope = "production",
        every_seconds: float = 1.0,
        detect_width: int | None = faces.DETECT_WIDTH,
        upsample: int = 1,
        skim: bool = True,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.keys_dir = keys_dir
        self.scope = scope
        self.every_seconds = every_seconds
        self.detect_width = detect_width
        self.upsample = upsample
        self.skim = skim
        # Every enrolled template, unsealed once per registry generation (enrolling
        # and forgetting templates move it: migration 0011).
        self._enrolled = RegistryCache()

    @property
    def name(self) -> str:
        """The face model and threshold (and the voice model's, once voices are scanned)."""
        return f"faces:{faces.MODEL}@{faces.THRESHOLD:g};scope={self.scope}"

    def galleries(self, context: ScanContext, *, voices: bool) -> tuple[Gallery, Gallery | None]:
        """The face gallery (and voice gallery when ``voices``) this context scans for."""
        with self.db.read() as conn:
            enrolled = self._enrolled.at(conn)

            def everyone(modality: Modality, model: str) -> Gallery:
                return enrolled.get(
                    (modality, model),
                    lambda: scanner_gallery(conn, self.keys_dir, modality, model, None),
                )

            galleries = [everyone("face", faces.MODEL)]
            if voices:
                from greenlight.likeness import voice

                galleries.append(everyone("voice", voice.MODEL))
            if self.scope == "production" and any(len(g) for g in galleries):
                talent = production_talent(conn, context.production_id)
                talent |= set(context.declared_talent)

                def only(gallery: Gallery) -> Gallery:  # the same rows, in the same order
                    keep = [i for i, owner in enumerate(gallery.talent_ids) if owner in talent]
                    vectors = gallery.vectors[keep] if keep else np.zeros((0, 0), np.float32)
                    owners = tuple(gallery.talent_ids[i] for i in keep)
                    return Gallery(gallery.modality, gallery.model, owners, vectors)

                galleries = [only(g) for g in galleries]
        return galleries[0], galleries[1] if voices else None

    def scan(self, outputs: Sequence[Path], context: ScanContext) -> ScanResult:
        """Scan each output; one match per performer per output (their best sighting)."""
        kinds = [media_kind(p) for p in outputs]
        face_gallery, voice_gallery = self.galleries(context, voices="audio" in kinds)
        name = self.name
        if voice_gallery is not None and len(voice_gallery):
            name += f";voices:{voice_gallery.model}"
        if not len(face_gallery) and not (voice_gallery and len(voice_gallery)):
            return ScanResult(scanner=name)  # nobody enrolled: nothing to look at
        covered = set(context.covered_talent)
        matches: list[Match] = []
        for number, (path, kind) in enumerate(zip(outputs, kinds, strict=True)):
            best: dict[str, Hit] = {}
            hits: Iterator[Hit]
            if kind == "audio" and voice_gallery is not None:
                hits = voice_hits(path, voice_gallery)
            else:
                hits = face_hits(
                    path,
                    face_gallery,
                    every_seconds=self.every_seconds,
                    detect_width=self.detect_width,
                    upsample=self.upsample,
                    skim=self.skim,
                )
            for hit in hits:
                if hit.talent_id not in best or hit.confidence > best[hit.talent_id].confidence:
                    best[hit.talent_id] = hit
            for talent_id, hit in sorted(best.items()):
                model = face_gallery.model
                if hit.modality == "voice" and voice_gallery is not None:
                    model = voice_gallery.model
                box = hit.box
                matches.append(
                    Match(
                        talent_id=talent_id,
                        output=number,
                        score=round(hit.confidence, 4),
                        covered=talent_id in covered,
                        modality=hit.modality,
                        model=model,
                        frame=hit.frame,
                        time=None if hit.time is None else round(hit.time, 3),
                        end=None if hit.end is None else round(hit.end, 3),
                        box=(box.left, box.top, box.width, box.height) if box else None,
                        evidence=self._evidence(hit),
                    )
                )
        return ScanResult(scanner=name, matches=tuple(matches))

    def _evidence(self, hit: Hit) -> str | None:
        if hit.image is None or hit.box is None:
            return None
        label = f"{hit.talent_id} {hit.confidence:.2f}"
        png = faces.draw_box(hit.image, hit.box, label)
        return self.blobs.put_bytes(png, media_type="image/png").sha256


def default_scanner(
    db: Database, blobs: BlobStore, keys_dir: Path, *, scope: Scope = "production"
) -> LikenessScanner:
    """The enrolled-talent scanner when the face models are installed, else NoScan."""
    if not faces.available():
        return NoScan()
    return EnrolledTalentScanner(db, blobs, keys_dir, scope=scope)
