"""Each production's watchlist: add, read, edit and remove entries."""

from __future__ import annotations

from greenlight.core.errors import Conflict, InvalidInput, NotFound
from greenlight.core.models import ProductionDraft, WatchlistDraft
from greenlight.productions import create_production
from greenlight.rights import add_watch, get_watch, remove_watch, update_watch, watchlist_for
from tests.expect import refused
from tests.world import World


def test_legal_keeps_a_watchlist_with_aliases(world: World) -> None:
    legal = world.people["legal"].id
    with world.platform.db.transaction() as conn:
        other = create_production(conn, ProductionDraft(code="FJ", title="Fjord", kind="film"))
        hero = add_watch(
            conn,
            world.production.id,
            WatchlistDraft(
                term="  Captain   Aurora ",
                category="protected_character",
                aliases=["Cpt. Aurora", "captain aurora", "Aurora-Girl", "cpt.  aurora"],
                note="Owned by Polar Comics",
            ),
            by=legal,
        )
        add_watch(conn, other.id, WatchlistDraft(term="Fjordcola", category="brand"), by=legal)
        assert watchlist_for(conn, world.production.id) == [hero]
    assert hero.term == "Captain Aurora"
    assert hero.aliases == ("Cpt. Aurora", "Aurora-Girl")  # the term itself is not an alias
    assert hero.added_by == legal

    with refused("watchlist.bad_alias", InvalidInput), world.platform.db.transaction() as conn:
        add_watch(
            conn,
            world.production.id,
            WatchlistDraft(term="Polar Comics", category="brand", aliases=[" "]),
            by=legal,
        )
    with refused("watchlist.duplicate", Conflict), world.platform.db.transaction() as conn:
        add_watch(
            conn,
            world.production.id,
            WatchlistDraft(term="CAPTAIN aurora", category="franchise"),
            by=legal,
        )
    with world.platform.db.transaction() as conn:
        edited = update_watch(
            conn,
            hero.id,
            WatchlistDraft(term="Captain Aurora", category="franchise", aliases=["The Aurora"]),
        )
        assert get_watch(conn, hero.id) == edited
        assert edited.category == "franchise" and edited.aliases == ("The Aurora",)
        removed = remove_watch(conn, hero.id, by=legal)
        assert removed.id == hero.id
        assert watchlist_for(conn, world.production.id) == []
    with refused("watchlist.not_found", NotFound), world.platform.db.transaction() as conn:
        remove_watch(conn, hero.id, by=legal)
