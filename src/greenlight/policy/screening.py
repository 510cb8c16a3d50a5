"""Prompt screening: find a production's watchlist entries in what a requester wrote.

Each production keeps a watchlist of protected characters, franchises, real
people and brands. A prompt and the names of declared references are matched
against every entry's term and aliases, and each hit becomes a fact the policy
sees (``request.screening_hits``).

How text is compared. Both sides are cut into words after Unicode NFKD with the
combining marks dropped and case folded, so "Dárth" is "darth". A term is found
where a run of whole words spells it with the spaces and punctuation taken
out: "Darth Vader", "darth-vader", "DarthVader" and "D a r t h   V a d e r" all
spell "darthvader". A match must start and end on word boundaries, so "Batman"
is not found in "Batmanuel" (a different name) but is in "Batman's" and, to
catch the plural, in "Batmans". Spellings that glue the term to another word,
or swap letters for digits ("V4der"), are caught only when listed as aliases.

A watchlist is compiled once (every spelling and all its prefixes in sets),
then each prompt costs one pass over its words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from greenlight.core.models import WatchCategory
from greenlight.policy.document import ScreeningHit

_ASCII_WORD = re.compile(r"[a-z0-9]+")


class Watched(Protocol):
    """Anything shaped like a watchlist entry (the registry's ``WatchlistEntry`` is)."""

    @property
    def id(self) -> str:
        """The entry's id."""
        ...

    @property
    def term(self) -> str:
        """The name as the watchlist spells it."""
        ...

    @property
    def category(self) -> WatchCategory:
        """protected_character, franchise, real_person, brand or other."""
        ...

    @property
    def aliases(self) -> Sequence[str]:
        """Other names for the same thing."""
        ...


class WatchEntry(BaseModel):
    """A watchlist entry as a file holds it (``greenlight policy screen --watchlist``)."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    id: str
    term: str = Field(min_length=1, max_length=200)
    category: WatchCategory
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Found:
    """Where one entry was found in one text, and the words as written there."""

    entry: Watched
    matched: str


def words(text: str) -> list[tuple[str, int, int]]:
    """The text's words, folded for comparison, each with its span in the original."""
    if text.isascii():
        return [(m.group(), m.start(), m.end()) for m in _ASCII_WORD.finditer(text.lower())]
    out: list[tuple[str, int, int]] = []
    current: list[str] = []
    start = 0
    for i, char in enumerate(text):
        folded = _fold(char)
        if folded:
            if not current:
                start = i
            current.append(folded)
        elif current:
            out.append(("".join(current), start, i))
            current = []
    if current:
        out.append(("".join(current), start, len(text)))
    return out


def spelling(text: str) -> str:
    """A name without accents, case, spaces or punctuation: "Dárth V-ader" is "darthvader"."""
    return "".join(w for w, _, _ in words(text))


def _fold(char: str) -> str:
    if char.isascii():
        return char.lower() if char.isalnum() else ""
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in kept.casefold() if c.isalnum())


class Watchlist:
    """A production's watchlist, compiled for matching many prompts."""

    def __init__(self, entries: Iterable[Watched]) -> None:
        """Index every entry's term and aliases by their spelling."""
        self._by_spelling: dict[str, list[Watched]] = {}
        self._prefixes: set[str] = set()
        self.entries: tuple[Watched, ...] = tuple(entries)
        for entry in self.entries:
            for name in (entry.term, *entry.aliases):
                key = spelling(name)
                if not key:
                    continue
                listed = self._by_spelling.setdefault(key, [])
                if all(e is not entry for e in listed):
                    listed.append(entry)
                self._prefixes.update(key[:n] for n in range(1, len(key) + 1))

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, text: str) -> list[Found]:
        """Every entry found in ``text``, once each, in the order they first appear."""
        if not self._by_spelling or not text:
            return []
        tokens = words(text)
        found: dict[str, Found] = {}
        lookup, prefixes = self._by_spelling, self._prefixes
        for i, (first, start, _) in enumerate(tokens):
            if first[0] not in prefixes:
                continue
            run = ""
            for word, _, end in tokens[i:]:
                run += word
                hits = lookup.get(run)
                if hits is None and run.endswith("s"):
                    hits = lookup.get(run[:-1])  # the plural: "Batmans"
                for entry in hits or ():
                    found.setdefault(entry.id, Found(entry, text[start:end]))
                if run not in prefixes:
                    break
        return list(found.values())

    def screen(self, prompt: str, references: Iterable[str] = ()) -> list[ScreeningHit]:
        """The hits in a prompt and in declared reference names, as the policy sees them."""
        hits = [_hit(f, "prompt") for f in self.find(prompt)]
        seen = {(h.entry_id, h.found_in) for h in hits}
        for reference in references:
            for f in self.find(reference):
                if (f.entry.id, "reference") not in seen:
                    seen.add((f.entry.id, "reference"))
                    hits.append(_hit(f, "reference"))
        return hits


def _hit(found: Found, where: str) -> ScreeningHit:
    return ScreeningHit.model_validate(
        {
            "entry_id": found.entry.id,
            "term": found.entry.term,
            "category": found.entry.category,
            "found_in": where,
            "matched": found.matched,
        }
    )
