"""Signing in through the real pages in tests (the page's CSRF token, the sign-in form)."""

from __future__ import annotations

import re

from tests.factories import PASSWORD


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, username: str, password: str = PASSWORD, **kw):
    """POST the sign-in form as a browser would (token from the sign-in page)."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, **kw
    )
