"""Throttling of the forms that guess passwords, send e-mail or create things: sign-in, password reset,
registration, choosing a password from an e-mailed link (accepting an invitation) and contact requests.

Moving windows (the ``limits`` library, as the API's rate limits in ``api/security.py``), in memory, per worker
process (with several workers the effective limits are that many times higher):

- **Failed sign-ins** per e-mail address (``POLLINATE_API__SIGN_IN_ACCOUNT_RATE``, default 5 per 15 minutes)
  and per client address (``POLLINATE_API__SIGN_IN_CLIENT_RATE``, default 20 per 15 minutes). Only failures
  count; a success clears the address's count. Once a window is full, sign-in with that address (or from that
  client) is refused without checking the password until the oldest failure leaves the window. Addresses are
  counted whether or not they have an account, so a refusal says nothing about it.
- **Forms that send e-mail or create things** (:meth:`Throttle.form_wait`), each counted per client address
  and per account (:data:`FORMS`): password-reset links, 3 per hour per e-mail address (nobody's inbox can be
  flooded); registrations, 3 per hour per e-mail address; reset and registration forms together, 20 per hour
  per client address; passwords chosen from a link (an invitation accepted, a reset finished), 10 per hour per
  link and 20 per client address (a link's token cannot be guessed by trying); contact requests, 30 per hour per
  signed-in account and 60 per client address (each one is recorded and will be read by a person).

A form over its budget does nothing and answers 429 with ``Retry-After`` in the reader's language (the form
again with the message, or the 429 page).
"""

from __future__ import annotations

import time
from typing import Final

import limits
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from matcher.settings import ApiSettings

RESETS_PER_ACCOUNT: Final = "3/hour"
MAIL_FORMS_PER_CLIENT: Final = "20/hour"
_MAX_KEY_LEN: Final = 320

# The budgets of each form: (name of the per-client budget, name of the per-account budget). Reset and
# registration share the client budget: both send e-mail to an address typed in by anyone.
FORMS: Final = {
    "reset": ("mail:client", "reset:account"),
    "register": ("mail:client", "register:account"),
    "link": ("link:client", "link:account"),
    "contact": ("contact:client", "contact:account"),
}
_RATES: Final = {
    "mail:client": MAIL_FORMS_PER_CLIENT,
    "reset:account": RESETS_PER_ACCOUNT,
    "register:account": "3/hour",
    "link:client": "20/hour",
    "link:account": "10/hour",
    "contact:client": "60/hour",
    "contact:account": "30/hour",
}


class Throttle:
    """The sign-in and e-mail budgets of one process (``app.state.throttle``)."""

    def __init__(self, settings: ApiSettings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items = {
            "sign-in:account": limits.parse(settings.sign_in_account_rate),
            "sign-in:client": limits.parse(settings.sign_in_client_rate),
            **{name: limits.parse(rate) for name, rate in _RATES.items()},
        }

    def _wait(self, kind: str, key: str) -> int | None:
        item = self._items[kind]
        if self._limiter.test(item, kind, key):
            return None
        reset = self._limiter.get_window_stats(item, kind, key).reset_time
        return max(1, int(reset - time.time()) + 1)

    def sign_in_wait(self, account: str, client: str) -> int | None:
        """Seconds to wait before this address may try to sign in from this client, or ``None``."""
        waits = [self._wait("sign-in:account", _key(account)), self._wait("sign-in:client", client)]
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def sign_in_failed(self, account: str, client: str) -> None:
        self._limiter.hit(self._items["sign-in:account"], "sign-in:account", _key(account))
        self._limiter.hit(self._items["sign-in:client"], "sign-in:client", client)

    def sign_in_succeeded(self, account: str) -> None:
        self._limiter.clear(self._items["sign-in:account"], "sign-in:account", _key(account))

    def form_wait(self, form: str, *, client: str, account: str | None = None) -> int | None:
        """Count one sending of ``form`` (a key of :data:`FORMS`) from ``client`` for ``account`` (an e-mail
        address, a user or a link: whatever the form acts on); seconds to wait when over budget (the form must
        then do nothing)."""
        per_client, per_account = FORMS[form]
        if not self._limiter.hit(self._items[per_client], per_client, client):
            return self._wait(per_client, client) or 1
        if account is not None and not self._limiter.hit(self._items[per_account], per_account, _key(account)):
            return self._wait(per_account, _key(account)) or 1
        return None


def _key(account: str) -> str:
    # What the person typed, trimmed and lower-cased: the bucket exists for unknown addresses too.
    return account.strip().lower()[:_MAX_KEY_LEN]


def client_of(request: Request) -> str:
    """The client address the throttles count (the proxy's ``X-Forwarded-For`` when trusted, as for the API)."""
    return request.client.host if request.client else "unknown"


def throttle_of(request: Request) -> Throttle:
    """The process's throttle (``app.state.throttle``)."""
    throttle = request.app.state.throttle
    assert isinstance(throttle, Throttle)
    return throttle
