"""All the pages, as one router the API app includes at the root."""

from __future__ import annotations

from fastapi import APIRouter

from greenlight.engine.platform import Platform
from greenlight.web._home import home_router
from greenlight.web._login import login_router
from greenlight.web._post_edit import post_edit_router
from greenlight.web._requests import requests_router
from greenlight.web._review import review_router
from greenlight.web._rights import rights_router
from greenlight.web._static import static_router


def pages(platform: Platform) -> APIRouter:
    """The web pages over ``platform``: sign-in, productions, requests, the review queue.

    Every route renders HTML (refusals included, as error pages with the
    error's status) and serves its own stylesheet under ``/static/``.
    """
    router = APIRouter()
    router.include_router(login_router(platform))
    router.include_router(home_router(platform))
    router.include_router(requests_router(platform))
    router.include_router(review_router(platform))
    router.include_router(post_edit_router(platform))
    router.include_router(rights_router(platform))
    router.include_router(static_router())
    return router
