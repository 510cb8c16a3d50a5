"""Translation memory: approved cue translations, reused before any machine works.

Per production and language pair, each approved source cue keeps its approved
translation. A new cue whose text is the same (spacing folded) reuses it as an
exact match (score 1.0); cues that are close (``difflib`` ratio at or above
``threshold``, 0.85 by default) get the nearest approved translations offered to
the post-editor with their score.

The workflow looks the cues up (:func:`lookup`) and hands the hits to an MT
backend as its ``memory`` parameter (:func:`as_parameter`), one item per hit::

    {"cue": 12, "source": "Where is the ship?", "translation": "¿Dónde está la nave?",
     "score": 1.0}

``cue`` is the cue's 1-based position in the track; ``source`` is the memory's
source text (for an exact hit, the cue's own text), so a backend can check the
hit belongs to the cue it names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from sqlalchemy import Connection, insert, select, update

from greenlight.core.clock import utcnow
from greenlight.core.errors import InvalidInput
from greenlight.localization.glossary import language_tag
from greenlight.store.schema import translation_memory

FUZZY_THRESHOLD = 0.85
MAX_SUGGESTIONS = 3


@dataclass(frozen=True)
class MemoryHit:
    """An approved translation offered for cue number ``cue`` (1-based)."""

    cue: int
    source: str
    translation: str
    score: float

    @property
    def exact(self) -> bool:
        """Whether the memory's source is the cue's text itself."""
        return self.score >= 1.0

    def describe(self) -> dict[str, Any]:
        """The hit as an item of the MT backends' ``memory`` parameter."""
        return {
            "cue": self.cue,
            "source": self.source,
            "translation": self.translation,
            "score": round(self.score, 4),
        }


def folded(text: str) -> str:
    """``text`` with its spacing and line breaks folded: what matching compares."""
    return " ".join(text.split())


def source_key(text: str) -> str:
    """The key an exact match is found by: SHA-256 of the folded text."""
    return hashlib.sha256(folded(text).encode()).hexdigest()


def similarity(a: str, b: str) -> float:
    """How alike two cue texts are, from 0 to 1 (``difflib``'s ratio on folded text)."""
    return SequenceMatcher(None, folded(a), folded(b), autojunk=False).ratio()


def fuzzy_matches(
    text: str,
    approved: Iterable[tuple[str, str]],
    *,
    threshold: float = FUZZY_THRESHOLD,
    limit: int = MAX_SUGGESTIONS,
) -> list[tuple[str, str, float]]:
    """The ``(source, translation, score)`` of the closest approved pairs, best first.

    Only scores at or above ``threshold``; at most ``limit``. The cheap upper
    bounds are tried first, so a large memory costs little for cues far from it.
    """
    wanted = folded(text)
    found = []
    for source, translation in approved:
        candidate = folded(source)
        total = len(wanted) + len(candidate)
        if not total or 2 * min(len(wanted), len(candidate)) / total < threshold:
            continue
        matcher = SequenceMatcher(None, wanted, candidate, autojunk=False)
        if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
            continue
        score = matcher.ratio()
        if score >= threshold:
            found.append((source, translation, score))
    found.sort(key=lambda item: -item[2])
    return found[:limit]


def approve(
    conn: Connection,
    production_id: str,
    source_language: str,
    target_language: str,
    pairs: Iterable[tuple[str, str]],
    *,
    by: str,
) -> int:
    """Keep approved ``(source text, translation)`` pairs in the production's memory.

    A newer approval of the same source replaces the older one. Empty texts are
    refused (``memory.empty_text``). Returns how many pairs were kept.
    """
    source_language = language_tag(source_language)
    target_language = language_tag(target_language)
    table = translation_memory
    kept = 0
    now = utcnow()
    for source, target in pairs:
        if not folded(source) or not folded(target):
            raise InvalidInput(
                "An approved translation needs both a source text and its translation; "
                "leave empty cues out.",
                code="memory.empty_text",
            )
        key = source_key(source)
        where = (
            table.c.production_id == production_id,
            table.c.source_language == source_language,
            table.c.target_language == target_language,
            table.c.source_key == key,
        )
        values = {
            "source_text": source,
            "target_text": target,
            "approved_by": by,
            "approved_at": now,
        }
        if conn.execute(select(table.c.source_key).where(*where)).first() is None:
            conn.execute(
                insert(table).values(
                    production_id=production_id,
                    source_language=source_language,
                    target_language=target_language,
                    source_key=key,
                    **values,
                )
            )
        else:
            conn.execute(update(table).where(*where).values(**values))
        kept += 1
    return kept


def lookup(
    conn: Connection,
    production_id: str,
    source_language: str,
    target_language: str,
    texts: Sequence[str],
    *,
    threshold: float = FUZZY_THRESHOLD,
    limit: int = MAX_SUGGESTIONS,
) -> list[MemoryHit]:
    """The memory's hits for each of ``texts`` (a track's cue texts, in order).

    An exact match is the cue's only hit; otherwise up to ``limit`` fuzzy ones
    at or above ``threshold``, best first.
    """
    table = translation_memory
    rows = conn.execute(
        select(table.c.source_key, table.c.source_text, table.c.target_text).where(
            table.c.production_id == production_id,
            table.c.source_language == language_tag(source_language),
            table.c.target_language == language_tag(target_language),
        )
    ).all()
    by_key = {row.source_key: row for row in rows}
    approved = [(row.source_text, row.target_text) for row in rows]
    hits: list[MemoryHit] = []
    for number, text in enumerate(texts, start=1):
        if not folded(text):
            continue
        row = by_key.get(source_key(text))
        if row is not None:
            hits.append(MemoryHit(number, row.source_text, row.target_text, 1.0))
            continue
        for source, translation, score in fuzzy_matches(
            text, approved, threshold=threshold, limit=limit
        ):
            hits.append(MemoryHit(number, source, translation, score))
    return hits


def as_parameter(hits: Iterable[MemoryHit]) -> list[dict[str, Any]]:
    """The hits as the MT backends' ``memory`` parameter."""
    return [hit.describe() for hit in hits]
