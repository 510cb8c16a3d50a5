"""A production's glossary: character names and invented terms, and how each must
come out in a target language (a given translation, or never translated).

The rules are pure functions, so the MT backends use them without a database:

- :func:`protect` swaps each glossary term in a source segment for a placeholder
  the MT engine passes through untouched (an unknown lower-case word);
- :func:`restore` puts the term's required rendering back in place of each
  placeholder, and says which placeholders the engine lost;
- :func:`check` reads a source and its translation (machine or post-edited) and
  reports every entry that was not honoured.

Storing entries per production is at the bottom (:func:`add_entry`,
:func:`entries_for`); the workflow reads them and hands them to a backend as the
``glossary`` parameter (:func:`as_parameter`).

A glossary entry as a backend parameter (JSON)::

    {"term": "Kepler Station", "translation": "Estación Kepler", "case": "exact"}
    {"term": "Zorblat", "translation": null, "case": "ignore"}   # never translated

``case`` is ``"exact"`` (the term matches only as written) or ``"ignore"``
(any capitalisation matches). A do-not-translate term comes back as it was
written in the source; a translated one exactly as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, select, update

from greenlight.core.clock import utcnow
from greenlight.core.errors import InvalidInput, NotFound
from greenlight.store.schema import glossary_entries

CaseRule = Literal["exact", "ignore"]
CASE_RULES: tuple[str, ...] = ("exact", "ignore")
MAX_TERM = 200
MAX_ENTRIES = 5000

_PLACEHOLDER = "zgl{}q"
_PLACEHOLDER_FOUND = re.compile(r"zgl(\d+)q", re.IGNORECASE)
_TAG = re.compile(r"</?i>")


@dataclass(frozen=True)
class GlossaryEntry:
    """One term of a production's glossary, for one target language.

    ``translation`` is ``None`` when the term is never translated (a character's
    name, an invented word). ``case`` says whether capitalisation must match.
    """

    term: str
    target_language: str
    translation: str | None = None
    case: CaseRule = "exact"
    note: str = ""

    @property
    def do_not_translate(self) -> bool:
        """Whether the term stays as written in the source."""
        return self.translation is None

    def pattern(self) -> re.Pattern[str]:
        """Where the term occurs in text: whole words only, as its case rule says."""
        words = r"\s+".join(re.escape(word) for word in self.term.split())
        flags = re.IGNORECASE if self.case == "ignore" else 0
        return re.compile(rf"(?<![\w-]){words}(?![\w-])", flags)

    def describe(self) -> dict[str, Any]:
        """The entry as a backend parameter item (JSON)."""
        return {"term": self.term, "translation": self.translation, "case": self.case}


@dataclass(frozen=True)
class Protected:
    """A segment with its glossary terms swapped for placeholders.

    ``renderings[k]`` is what placeholder ``k`` becomes in the translation and
    ``entries[k]`` the entry it came from.
    """

    text: str
    renderings: tuple[str, ...]
    entries: tuple[GlossaryEntry, ...]


@dataclass(frozen=True)
class GlossaryIssue:
    """An entry a translation did not honour: ``expected`` is what should appear."""

    term: str
    expected: str
    found_in_source: int
    found_in_translation: int

    def describe(self) -> dict[str, Any]:
        """JSON for the MT report."""
        return {
            "term": self.term,
            "expected": self.expected,
            "in_source": self.found_in_source,
            "in_translation": self.found_in_translation,
        }


def entries_from_parameter(value: Any, target_language: str, *, code: str) -> list[GlossaryEntry]:
    """The ``glossary`` parameter (a JSON list of entries) checked and read.

    Refuses anything not shaped as documented above with ``code``.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(
            "'glossary' must be a list of entries like "
            '{"term": "Kepler Station", "translation": "Estación Kepler", "case": "exact"}.',
            code=code,
        )
    entries = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) - {"term", "translation", "case", "note"}:
            raise InvalidInput(
                f"Glossary entry {number} must be an object with 'term', 'translation' "
                "(null: never translated) and 'case' ('exact' or 'ignore').",
                code=code,
            )
        term, translation, case = item.get("term"), item.get("translation"), item.get("case")
        if not isinstance(term, str) or not term.strip() or len(term) > MAX_TERM:
            raise InvalidInput(
                f"Glossary entry {number} needs a 'term' of 1 to {MAX_TERM} characters.",
                code=code,
            )
        if translation is not None and (not isinstance(translation, str) or not translation):
            raise InvalidInput(
                f"Glossary entry {number} ({term!r}): 'translation' must be text, or null "
                "for a term that is never translated.",
                code=code,
            )
        if case is None:
            case = "exact"
        if case not in CASE_RULES:
            raise InvalidInput(
                f"Glossary entry {number} ({term!r}): 'case' must be 'exact' or 'ignore', "
                f"not {case!r}.",
                code=code,
            )
        entries.append(
            GlossaryEntry(
                term=" ".join(term.split()),
                target_language=target_language,
                translation=translation,
                case="ignore" if case == "ignore" else "exact",
            )
        )
    return entries


def protect(text: str, entries: Sequence[GlossaryEntry], *, first: int = 0) -> Protected:
    """``text`` with every glossary term replaced by a numbered placeholder.

    Longer terms win over shorter ones they contain ("Kepler Station" before
    "Kepler"). Placeholders are numbered from ``first`` so a whole batch can
    share one numbering.
    """
    renderings: list[str] = []
    used: list[GlossaryEntry] = []
    ordered = sorted(entries, key=lambda e: len(e.term), reverse=True)
    for entry in ordered:

        def swap(match: re.Match[str], entry: GlossaryEntry = entry) -> str:
            renderings.append(entry.translation or match.group(0))
            used.append(entry)
            return _PLACEHOLDER.format(first + len(renderings) - 1)

        text = entry.pattern().sub(swap, text)
    return Protected(text=text, renderings=tuple(renderings), entries=tuple(used))


def restore(translated: str, protected: Protected, *, first: int = 0) -> tuple[str, list[str]]:
    """``translated`` with each placeholder turned back into its rendering.

    Returns the text and the renderings whose placeholder the engine lost (the
    term is then missing from the translation, and :func:`check` reports it).
    """
    seen: set[int] = set()

    def back(match: re.Match[str]) -> str:
        k = int(match.group(1)) - first
        if not 0 <= k < len(protected.renderings):
            return match.group(0)
        seen.add(k)
        return protected.renderings[k]

    text = _PLACEHOLDER_FOUND.sub(back, translated)
    lost = [r for k, r in enumerate(protected.renderings) if k not in seen]
    return text, lost


def check(source: str, translation: str, entries: Iterable[GlossaryEntry]) -> list[GlossaryIssue]:
    """Every entry ``translation`` does not honour.

    An entry is honoured when its required rendering appears in the translation
    at least as often as its term appears in the source (a do-not-translate term
    must appear as written; a translated one exactly as given, in its case rule).
    """
    plain_source, plain_translation = _TAG.sub("", source), _TAG.sub("", translation)
    issues = []
    for entry in entries:
        wanted = len(entry.pattern().findall(plain_source))
        if not wanted:
            continue
        expected = entry.translation if entry.translation is not None else entry.term
        rendering = GlossaryEntry(expected, entry.target_language, case=entry.case)
        found = len(rendering.pattern().findall(plain_translation))
        if found < wanted:
            issues.append(GlossaryIssue(entry.term, expected, wanted, found))
    return issues


# Storing a production's glossary.


def _folded(term: str) -> str:
    return " ".join(term.split()).casefold()


def add_entry(conn: Connection, production_id: str, entry: GlossaryEntry, *, by: str) -> None:
    """Put ``entry`` in the production's glossary, replacing the same term's entry
    for that language (terms compare without regard to case or spacing)."""
    if not entry.term.strip() or len(entry.term) > MAX_TERM:
        raise InvalidInput(
            f"A glossary term is 1 to {MAX_TERM} characters.", code="glossary.bad_term"
        )
    if entry.case not in CASE_RULES:
        raise InvalidInput(
            f"The case rule must be 'exact' or 'ignore', not {entry.case!r}.",
            code="glossary.bad_case_rule",
        )
    if entry.translation is not None and not entry.translation.strip():
        raise InvalidInput(
            "A translation is not empty; leave it out for a term that is never translated.",
            code="glossary.bad_translation",
        )
    language = language_tag(entry.target_language, code="glossary.bad_language")
    key = {
        "production_id": production_id,
        "target_language": language,
        "term_key": _folded(entry.term),
    }
    values = {
        "term": " ".join(entry.term.split()),
        "translation": entry.translation,
        "case_rule": entry.case,
        "note": entry.note,
        "updated_by": by,
        "updated_at": utcnow(),
    }
    table = glossary_entries
    found = conn.execute(
        select(table.c.term_key).where(*(table.c[name] == value for name, value in key.items()))
    ).first()
    if found is None:
        count = conn.execute(
            select(table.c.term_key).where(table.c.production_id == production_id)
        ).all()
        if len(count) >= MAX_ENTRIES:
            raise InvalidInput(
                f"The glossary already holds {MAX_ENTRIES} entries; remove unused ones first.",
                code="glossary.full",
            )
        conn.execute(insert(table).values(**key, **values))
    else:
        conn.execute(
            update(table)
            .where(*(table.c[name] == value for name, value in key.items()))
            .values(**values)
        )


def remove_entry(conn: Connection, production_id: str, term: str, target_language: str) -> None:
    """Take a term out of the production's glossary for one language."""
    table = glossary_entries
    removed = conn.execute(
        delete(table).where(
            table.c.production_id == production_id,
            table.c.target_language == language_tag(target_language),
            table.c.term_key == _folded(term),
        )
    )
    if removed.rowcount == 0:
        raise NotFound(
            f"The glossary has no entry {term!r} for {target_language}; list it with "
            "`greenlight glossary list`.",
            code="glossary.not_found",
        )


def entries_for(
    conn: Connection, production_id: str, target_language: str | None = None
) -> list[GlossaryEntry]:
    """The production's glossary (for one target language when given), by term."""
    table = glossary_entries
    query = select(table).where(table.c.production_id == production_id)
    if target_language is not None:
        query = query.where(table.c.target_language == language_tag(target_language))
    rows = conn.execute(query.order_by(table.c.target_language, table.c.term_key)).mappings()
    return [
        GlossaryEntry(
            term=row["term"],
            target_language=row["target_language"],
            translation=row["translation"],
            case="ignore" if row["case_rule"] == "ignore" else "exact",
            note=row["note"],
        )
        for row in rows
    ]


def as_parameter(entries: Iterable[GlossaryEntry]) -> list[dict[str, Any]]:
    """The entries as the MT backends' ``glossary`` parameter."""
    return [entry.describe() for entry in entries]


def language_tag(tag: str, *, code: str = "localization.bad_language") -> str:
    """``tag`` as a tidy BCP 47 language tag (``"pt_br"`` -> ``"pt-BR"``), or a refusal."""
    parts = tag.strip().replace("_", "-").split("-")
    if not re.fullmatch(r"[A-Za-z]{2,3}", parts[0]) or not all(
        re.fullmatch(r"[A-Za-z0-9]{2,8}", part) for part in parts[1:]
    ):
        raise InvalidInput(
            f"{tag!r} is not a language tag; use one like 'en', 'es', 'fr' or 'pt-BR'.",
            code=code,
        )
    tidy = [parts[0].lower()]
    for part in parts[1:]:
        tidy.append(part.upper() if len(part) == 2 and part.isalpha() else part.lower())
    return "-".join(tidy)
