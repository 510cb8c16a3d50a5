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
    vendors,
    watchlist,
)

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    people.router,
    productions.router,
    rights.router,
    vendors.router,
    watchlist.router,
    disclosures.router,
    requests.router,
    bundles.router,
    assets.router,
    ledger.router,
)

__all__ = ["ROUTERS"]
