"""Greenlight's web pages: server-rendered HTML for the people in the flow.

The API app includes them at the root::

    app.include_router(pages(platform))

Pages call the same services as the API (never the tables), sign people in
with a ``greenlight_session`` cookie, and check a CSRF token on every form.
Their stylesheet is served by the router itself under ``/static/``, so nothing
else needs mounting. Output previews point at the API's asset content route,
``/api/v1/assets/{id}/content``, which accepts the same session cookie.
Cookies follow the API's Secure rule, including its
``app.state.secure_cookies`` override when the app sets one.
"""

from greenlight.accounts import SESSION_COOKIE
from greenlight.web._router import pages
from greenlight.web._static import STATIC_DIR

__all__ = ["SESSION_COOKIE", "STATIC_DIR", "pages"]
