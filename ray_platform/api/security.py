"""Who is calling the query API, and how often: sessions, bearer tokens, per-user rate limits.

People log in with password and TOTP (:func:`ray_platform.governance.auth.login`). The login
token that returns is single-use, so :func:`open_session` redeems it at once and hands back a
*session token*: a signed token of the same scheme with the user's role, valid
:data:`SESSION_TTL_S`, reusable until it expires. Services send a token from
``gbank auth token`` the same way. Every request names its token in ``Authorization: Bearer``;
:func:`ray_platform.governance.access.principal_from_token` turns it into the principal that
the access policy and masking see, so the API has no second way in.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from ray_platform.errors import AuthenticationFailed, RateLimited
from ray_platform.governance import auth
from ray_platform.governance.access import Principal, principal_from_token
from ray_platform.settings import Settings

SESSION_TTL_S = 8 * 3600
"""How long a dashboard session lasts (a working day)."""


def open_session(user: str, password: str, code: str, settings: Settings) -> tuple[str, str]:
    """``(session token, role)`` for a person who passes password and TOTP."""
    login_token = auth.login(user, password, code, settings)
    verified = auth.verify_token(login_token, settings)  # redeems the single-use login token
    # "service" is the scheme's reusable kind; "user" tokens are single-use by design.
    token = auth.issue_token(
        verified.subject, kind="service", role=verified.role, ttl_s=SESSION_TTL_S,
        settings=settings,
    )  # fmt: skip
    return token, verified.role or ""


def principal_of(authorization: str | None, settings: Settings) -> Principal:
    """The principal of an ``Authorization: Bearer <token>`` header value."""
    if not authorization:
        raise AuthenticationFailed("missing credentials: send Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("credentials must be a bearer token")
    return principal_from_token(token.strip(), settings)


class RateLimiter:
    """At most ``per_minute`` calls per user in any sliding 60-second window (in memory)."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute, self.window_s = per_minute, window_s
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, user: str, now: float | None = None) -> None:
        """Count one call by ``user``; :class:`RateLimited` when it is over the limit."""
        at = time.monotonic() if now is None else now
        with self._lock:
            calls = self._calls.setdefault(user, deque())
            while calls and calls[0] <= at - self.window_s:
                calls.popleft()
            if len(calls) >= self.per_minute:
                wait = calls[0] + self.window_s - at
                raise RateLimited(
                    f"rate limit of {self.per_minute} requests per minute exceeded for "
                    f"{user}; retry in {wait:.0f} s"
                )
            calls.append(at)
