"""What every command that opens the platform shares: opening it, acting as someone,
finding tools by the names people type, and printing tables.

Commands act as a person (``--as``) and the engine applies that person's
roles; reading without ``--as`` reads as the operator, who holds the data
directory anyway.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.table import Table
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from greenlight.accounts import Access, find_person, load_access
from greenlight.core.clock import utcnow
from greenlight.core.errors import InvalidInput, NotFound
from greenlight.core.models import InputRef, Person, Talent, Tool, Vendor
from greenlight.core.settings import Settings
from greenlight.engine import assets as asset_store
from greenlight.engine.platform import Platform
from greenlight.rights import list_talent, list_tools, list_vendors

Model = TypeVar("Model", bound=BaseModel)

# Who reads without --as: the operator, who holds the data directory anyway.
OPERATOR = Person(
    id="operator",
    email="operator@localhost",
    name="the operator",
    is_admin=True,
    created_at=utcnow(),
)


def plain_table(
    *columns: str,
    title: str | None = None,
    whole: Collection[str] = ("request", "state"),
    right: Collection[str] = (),
) -> Table:
    """A plain table: a header rule, no frame; long values fold rather than get cut,
    except the ``whole`` columns (ids people copy), which never break."""
    table = Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for column in columns:
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column in whole,
            justify="right" if column in right else "left",
        )
    return table


ActAs = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="GREENLIGHT_USER",
        show_envvar=True,
        help="Email of the person to act as; their roles decide what is allowed.",
    ),
]
ReadAs = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="GREENLIGHT_USER",
        show_envvar=True,
        help="Read as this person (email), seeing only what they may; default: everything.",
    ),
]


@contextmanager
def opened(config: Settings, *, setup: bool = False) -> Iterator[Platform]:
    """The platform in ``config``; unless ``setup``, refuse a data dir never initialised."""
    if not setup:
        require_installed(config)
    platform = Platform.open(config, create_identity=setup)
    try:
        yield platform
    finally:
        platform.close()


def require_installed(config: Settings) -> None:
    """NotFound (``cli.not_initialised``) unless ``config`` points at an installation."""
    url = make_url(config.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise NotFound(
            f"There is no Greenlight installation in {config.data_dir}; run `greenlight init` "
            "(or `greenlight demo`), or point GREENLIGHT_DATA_DIR at an existing one.",
            code="cli.not_initialised",
        )


def person_signing_in_as(conn: Connection, email: str) -> Person:
    """The person who signs in with ``email``, or NotFound saying how to add them."""
    person = find_person(conn, email)
    if person is None:
        raise NotFound(
            f"Nobody signs in as {email}; add them with "
            f"`greenlight users create --email {email} --name ...`.",
            code="person.not_found",
        )
    return person


def acting_as(platform: Platform, email: str) -> Access:
    """What the person signing in as ``email`` may do."""
    with platform.db.read() as conn:
        return load_access(conn, person_signing_in_as(conn, email))


def reading_as(platform: Platform, email: str | None) -> Access:
    """Who reads: that person, or the operator (everything) without ``--as``."""
    return Access(person=OPERATOR) if email is None else acting_as(platform, email)


def validated(model: type[Model], fields: dict[str, Any]) -> Model:
    """``fields`` as a ``model``, or InvalidInput naming each bad option."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"Check the options: {problems}.", code="cli.invalid") from None


def find_tool(conn: Connection, key: str) -> Tool:
    """A tool by id or by name (any case); a name several versions share is ambiguous."""
    tools = list_tools(conn)
    matches = [t for t in tools if t.id == key] or [
        t for t in tools if t.name.casefold() == key.casefold()
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        versions = ", ".join(f"{t.name} {t.version} ({t.id})" for t in matches)
        raise InvalidInput(
            f"Several tools are called {key!r}: {versions}; give the id.",
            code="cli.ambiguous_tool",
        )
    known = ", ".join(sorted({t.name for t in tools})) or "none yet"
    raise NotFound(f"No tool {key!r}; registered tools: {known}.", code="tool.not_found")


def find_performer(conn: Connection, key: str) -> Talent:
    """A registered performer by id or by name (any case)."""
    performers = list_talent(conn)
    for performer in performers:
        if key == performer.id or key.casefold() == performer.name.casefold():
            return performer
    known = ", ".join(p.name for p in performers) or "none yet"
    raise NotFound(
        f"No registered performer {key!r}; registered: {known}.", code="talent.not_found"
    )


def find_vendor(conn: Connection, key: str) -> Vendor:
    """A vendor by id or by name (any case)."""
    found = list_vendors(conn)
    for vendor in found:
        if key == vendor.id or key.casefold() == vendor.name.casefold():
            return vendor
    known = ", ".join(v.name for v in found) or "none yet"
    raise NotFound(f"No vendor {key!r}; registered vendors: {known}.", code="vendor.not_found")


def uploaded_inputs(
    platform: Platform, access: Access, production_id: str, files: Sequence[tuple[Path, str]]
) -> list[InputRef]:
    """Upload each local ``(file, part)`` as ``access`` into the production; the request inputs."""
    inputs = []
    for path, part in files:
        with path.open("rb") as stream:
            asset, _ = asset_store.upload(
                platform, access, production_id, path.name, stream, mimetypes.guess_type(path)[0]
            )
        inputs.append(InputRef(asset_id=asset.id, part=part))
    return inputs
