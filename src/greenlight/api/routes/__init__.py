"""One router per resource, all mounted under /api/v1."""

from fastapi import APIRouter

from greenlight.api.routes import (
    assets,
    auth,
    bundles,
    disclosures,
    ledger,
    people,
    productions,
    requests,
    rights,
    runs,
    subtitle_edits,
    vendors,
    watchlist,
)

# Routes are matched in this order: the hot path (submitting and reading
# requests) first, so the commonest call is not tried against every other route.
ROUTERS: tuple[APIRouter, ...] = (
    requests.router,
    auth.router,
    people.router,
    productions.router,
    rights.router,
    vendors.router,
    watchlist.router,
    disclosures.router,
    bundles.router,
    assets.router,
    ledger.router,
    runs.router,
    subtitle_edits.router,
)

__all__ = ["ROUTERS"]
