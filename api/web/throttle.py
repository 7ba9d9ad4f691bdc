"""Throttling of the forms that guess passwords or send e-mail: sign-in, password reset and registration.

Moving windows (the ``limits`` library, as the API's rate limits in ``api/security.py``), in memory, per worker
process (with several workers the effective limits are that many times higher):

- **Failed sign-ins** per e-mail address (``POLLINATE_API__SIGN_IN_ACCOUNT_RATE``, default 5 per 15 minutes)
  and per client address (``POLLINATE_API__SIGN_IN_CLIENT_RATE``, default 20 per 15 minutes). Only failures
  count; a success clears the address's count. Once a window is full, sign-in with that address (or from that
  client) is refused without checking the password until the oldest failure leaves the window. Addresses are
  counted whether or not they have an account, so a refusal says nothing about it.
- **E-mails asked for**: password-reset links, 3 per hour per e-mail address (nobody's inbox can be flooded),
  and reset or registration forms, 20 per hour per client address.
"""

from __future__ import annotations

import time
from typing import Final

import limits
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from matcher.settings import ApiSettings

RESETS_PER_ACCOUNT: Final = "3/hour"
MAIL_FORMS_PER_CLIENT: Final = "20/hour"
_MAX_KEY_LEN: Final = 320


class Throttle:
    """The sign-in and e-mail budgets of one process (``app.state.throttle``)."""

    def __init__(self, settings: ApiSettings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._items = {
            "sign-in:account": limits.parse(settings.sign_in_account_rate),
            "sign-in:client": limits.parse(settings.sign_in_client_rate),
            "reset:account": limits.parse(RESETS_PER_ACCOUNT),
            "mail:client": limits.parse(MAIL_FORMS_PER_CLIENT),
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

    def mail_wait(self, client: str, account: str | None = None) -> int | None:
        """Count a form that sends e-mail; seconds to wait when over budget (nothing is sent then)."""
        if not self._limiter.hit(self._items["mail:client"], "mail:client", client):
            return self._wait("mail:client", client) or 1
        if account is not None and not self._limiter.hit(
            self._items["reset:account"], "reset:account", _key(account)
        ):
            return self._wait("reset:account", _key(account)) or 1
        return None


def _key(account: str) -> str:
    # What the person typed, trimmed and lower-cased: the bucket exists for unknown addresses too.
    return account.strip().lower()[:_MAX_KEY_LEN]
