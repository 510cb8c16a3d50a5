"""What-if over the decisions the platform keeps: a policy team tries a candidate
rule set against every stored request before anyone switches to it.

The requests are made through the real flow (the test world and
``requests.submit``), so the documents judged again are the ones the engine
kept with each decision.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import null, update
from typer.testing import CliRunner

from greenlight.cli import app
from greenlight.core.enums import Outcome
from greenlight.core.settings import Settings
from greenlight.engine import requests
from greenlight.engine.platform import Platform
from greenlight.policy.cedar_engine import DEFAULT_DIRECTORY, CedarPolicy
from greenlight.policy.whatif import NO_DOCUMENT, UNREADABLE_DOCUMENT, what_if_database
from greenlight.store.migrate import downgrade
from greenlight.store.schema import policy_decisions
from tests.world import World, build_world

runner = CliRunner()


@dataclass
class Slate:
    """Four stored requests, by what they are."""

    world: World
    studio_cleanup: str  # the studio's own tool: allowed
    vendor_cleanup: str  # the vendor's enclosed tool: allowed today
    final_cut: str  # a final deliverable: waits for the showrunner or director
    unconsented_de_aging: str  # denied

    @property
    def ids(self) -> set[str]:
        return {self.studio_cleanup, self.vendor_cleanup, self.final_cut, self.unconsented_de_aging}


def _submit(world: World, **changes: object) -> str:
    draft = world.cleanup(world.upload_plate(), **changes)
    return requests.submit(world.platform, world.access("artist"), draft).request.id


def _slate(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Slate]:
    monkeypatch.setenv("GREENLIGHT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GREENLIGHT_DATABASE_URL", settings.database_url)
    platform = Platform.open(settings)
    world = build_world(platform)
    slate = Slate(
        world=world,
        studio_cleanup=_submit(world),
        vendor_cleanup=_submit(world, tool_id=world.vendor_tool.id),
        final_cut=_submit(world, intent="final_deliverable"),
        unconsented_de_aging=_submit(world, use_case="de_aging", talent_ids=[world.unconsented.id]),
    )
    yield slate
    platform.close()


@pytest.fixture
def slate(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Slate]:
    """The slate on SQLite and on PostgreSQL."""
    yield from _slate(settings, monkeypatch)


@pytest.fixture
def sqlite_slate(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Slate]:
    """The slate on SQLite only, for what does not depend on the database."""
    yield from _slate(sqlite_settings, monkeypatch)


@pytest.fixture
def only_studio_enclosed(tmp_path: Path) -> Path:
    """The shipped rules, except that a vendor's enclosed environment no longer counts."""
    folder = tmp_path / "candidate"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    principles = folder / "principles.cedar"
    text = principles.read_text()
    enclosed = """unless {
  resource.hosting == "studio" ||
  (resource.hosting == "vendor_enclosed" &&
   resource has enclosed_environment && resource.enclosed_environment)
};"""
    assert enclosed in text
    principles.write_text(text.replace(enclosed, 'unless { resource.hosting == "studio" };'))
    return folder


def whatif(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["policy", "whatif", *args])
    return result.exit_code, result.stdout, result.stderr


def _forget_document(slate: Slate, request_id: str, facts: object) -> None:
    with slate.world.platform.db.transaction() as conn:
        conn.execute(
            update(policy_decisions)
            .where(policy_decisions.c.request_id == request_id)
            .values(facts=facts)
        )


def test_whatif_over_the_database_names_exactly_the_requests_a_candidate_changes(
    slate: Slate, only_studio_enclosed: Path
) -> None:
    code, out, err = whatif("--policies", str(only_studio_enclosed), "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["judged"] == 4
    assert report["unchanged"] == 3
    assert report["not_rejudgeable"]["decisions"] == 0
    (change,) = report["changes"]
    assert change["request_id"] == slate.vendor_cleanup
    assert change["old"] == {"outcome": "allow", "rules": ["proceeds-on-disclosure"]}
    assert change["new"] == {
        "outcome": "needs_approval",
        "rules": ["principle-enclosed-environment"],
    }
    assert change["no_longer_deciding"] == ["proceeds-on-disclosure"]
    assert report["rule_changes"] == []  # same outcome, approvers and reason; only the condition


def test_the_whatif_table_shows_the_old_and_new_outcome_of_each_changed_request(
    sqlite_slate: Slate, only_studio_enclosed: Path
) -> None:
    code, out, _ = whatif("--policies", str(only_studio_enclosed))
    assert code == 1
    assert "4 stored requests judged" in out
    assert "1 decisions would change (allow → needs_approval: 1)" in out
    assert sqlite_slate.vendor_cleanup in out
    for unchanged in sqlite_slate.ids - {sqlite_slate.vendor_cleanup}:
        assert unchanged not in out
    assert "not re-judgeable" not in out


def test_the_rules_in_force_change_no_stored_decision(sqlite_slate: Slate) -> None:
    code, out, _ = whatif("--policies", str(DEFAULT_DIRECTORY), "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["judged"], report["changes"]) == (4, [])
    assert {(t["from"], t["to"]) for t in report["transitions"]} == {
        ("allow", "allow"),
        ("needs_approval", "needs_approval"),
        ("deny", "deny"),
    }


def test_decisions_made_before_documents_were_kept_are_reported_not_rejudgeable(
    slate: Slate, only_studio_enclosed: Path
) -> None:
    # As migration 0003 left the decisions made before it: SQL NULL.
    _forget_document(slate, slate.vendor_cleanup, null())
    _forget_document(slate, slate.final_cut, {"request": {"id": "req_old"}})
    code, out, err = whatif("--policies", str(only_studio_enclosed), "--json")
    assert code == 0, err  # the only request the candidate changes can no longer be judged
    report = json.loads(out)
    assert report["judged"] == 2
    assert report["not_rejudgeable"] == {
        "decisions": 2,
        "why": {NO_DOCUMENT: 1, UNREADABLE_DOCUMENT: 1},
        "examples": sorted([slate.vendor_cleanup, slate.final_cut]),
    }

    code, out, _ = whatif("--policies", str(only_studio_enclosed))
    assert code == 0
    assert "2 stored decisions are not re-judgeable" in out
    assert f"1 {NO_DOCUMENT}" in out
    assert slate.vendor_cleanup in out


def test_a_decision_whose_document_was_written_as_json_null_is_not_rejudgeable(
    sqlite_slate: Slate,
) -> None:
    _forget_document(sqlite_slate, sqlite_slate.studio_cleanup, None)  # JSON null, not SQL NULL
    report = what_if_database(CedarPolicy.load(), sqlite_slate.world.platform.db)
    assert report.judged == 3
    assert report.not_rejudgeable == {NO_DOCUMENT: 1}
    assert report.not_rejudgeable_examples == [sqlite_slate.studio_cleanup]


def test_an_exported_file_gives_the_auditor_the_same_report_offline(
    sqlite_slate: Slate, only_studio_enclosed: Path, tmp_path: Path
) -> None:
    _forget_document(sqlite_slate, sqlite_slate.final_cut, null())
    exported = tmp_path / "audit" / "decisions.jsonl"
    wrote = runner.invoke(app, ["policy", "export", "--output", str(exported)])
    assert wrote.exit_code == 0, wrote.stderr
    assert "wrote 3 stored decisions" in wrote.stdout
    assert "1 stored decisions are not re-judgeable" in wrote.stdout
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert {line["request_id"] for line in lines} == sqlite_slate.ids - {sqlite_slate.final_cut}
    assert {line["outcome"] for line in lines} == {"allow", "deny"}

    code, from_file, _ = whatif("--policies", str(only_studio_enclosed), "--json")
    offline = json.loads(from_file)
    code, from_db, _ = whatif(
        "--policies", str(only_studio_enclosed), "--documents", str(exported), "--json"
    )
    online = json.loads(from_db)
    assert code == 1
    assert offline["changes"] == online["changes"]
    assert [c["request_id"] for c in online["changes"]] == [sqlite_slate.vendor_cleanup]


def test_export_does_not_overwrite_a_file_unless_forced(
    sqlite_slate: Slate, tmp_path: Path
) -> None:
    exported = tmp_path / "decisions.jsonl"
    exported.write_text("keep me\n")
    refused = runner.invoke(app, ["policy", "export", "--output", str(exported)])
    assert refused.exit_code == 2
    assert "cli.file_exists" in refused.stderr
    assert exported.read_text() == "keep me\n"
    forced = runner.invoke(app, ["policy", "export", "--output", str(exported), "--force"])
    assert forced.exit_code == 0, forced.stderr
    assert len(exported.read_text().splitlines()) == 4


def test_export_to_a_place_that_cannot_be_written_says_so(
    sqlite_slate: Slate, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["policy", "export", "--output", str(blocker / "out.jsonl")])
    assert result.exit_code == 2
    assert "policy.export_unwritable" in result.stderr
    assert blocker.read_text() == "not a directory"


def test_the_database_is_judged_the_same_in_one_process_or_split_by_key_in_two(
    sqlite_slate: Slate, only_studio_enclosed: Path
) -> None:
    platform = sqlite_slate.world.platform
    more = [
        _submit(sqlite_slate.world, tool_id=sqlite_slate.world.vendor_tool.id) for _ in range(3)
    ]
    _forget_document(sqlite_slate, sqlite_slate.final_cut, null())
    candidate, current = CedarPolicy.load(only_studio_enclosed), CedarPolicy.load()
    alone = what_if_database(candidate, platform.db, current=current, workers=1, page=2)
    split = what_if_database(
        candidate, platform.db, current=current, workers=2, page=2, split_above=0
    )
    for report in (alone, split):
        assert report.judged == 6
        assert report.not_rejudgeable == {NO_DOCUMENT: 1}
        assert report.not_rejudgeable_examples == [sqlite_slate.final_cut]
        assert [c.request_id for c in report.changes] == sorted(
            [sqlite_slate.vendor_cleanup, *more]
        )
        assert report.transitions[(Outcome.ALLOW, Outcome.NEEDS_APPROVAL)] == 4


def test_whatif_without_an_installation_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "nowhere"
    monkeypatch.setenv("GREENLIGHT_DATA_DIR", str(nowhere))
    monkeypatch.delenv("GREENLIGHT_DATABASE_URL", raising=False)
    code, out, err = whatif("--policies", str(DEFAULT_DIRECTORY))
    assert code == 2
    assert out == ""
    assert "cli.not_initialised" in err and "greenlight init" in err
    assert not nowhere.exists()


def test_whatif_reads_an_older_database_without_upgrading_it(
    sqlite_slate: Slate, only_studio_enclosed: Path
) -> None:
    engine = sqlite_slate.world.platform.db.engine
    downgrade(engine, "0003_rights")  # a schema older than this Greenlight's, with facts
    with engine.connect() as conn:
        before = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    code, _, err = whatif("--policies", str(only_studio_enclosed))
    assert code == 2
    assert "policy.database_outdated" in err and "greenlight init" in err
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == before
