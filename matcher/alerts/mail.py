"""E-mail alerts and digests: rendering a :class:`Digest` into a message, and sending it over SMTP; and the
plain messages about a person's account (:func:`render_account_message`), sent through the same mailer.

``render_digest`` builds a ``multipart/alternative`` message (plain text and HTML, from the Jinja2 templates
in ``alerts/templates``) in the recipient's language (``Digest.locale``: the subject, greeting, labels and
period are gettext messages of the catalogues of :mod:`matcher.language`; the caller words the explanations
in the same language), with a deterministic ``Message-ID`` taken from the delivery id, so a retried delivery
is recognisably the same message, and RFC 8058 one-click unsubscribe headers. ``SmtpMailer.send`` opens one
connection per message and turns every failure into a :class:`DeliveryError` whose ``retryable`` flag tells the
delivery worker whether trying again can help (4xx replies, timeouts, refused connections) or not (5xx
replies, missing configuration, bad credentials).
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from typing import Literal

import jinja2

from matcher.errors import DeliveryError
from matcher.language import catalogues as i18n
from matcher.language.catalogues import gettext as _
from matcher.language.catalogues import gettext_noop as N_  # noqa: N812 - the name message extraction looks for
from matcher.language.catalogues import ngettext
from matcher.settings import SmtpSettings
from models import vocabularies as vocab

__all__ = ["Digest", "DigestItem", "SmtpMailer", "render_account_message", "render_digest"]

log = logging.getLogger(__name__)

Period = Literal["instant", "daily", "weekly"]

# RFC 5322 id-left is a dot-atom; this stricter subset keeps "<{delivery_id}@pollinate>" a valid Message-ID
# and keeps the id safe in every header it appears in.
_DELIVERY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}")
# Links go into href attributes and the List-Unsubscribe header: http(s) only, no spaces, controls or angle
# brackets (which would end the <...> of List-Unsubscribe early).
_URL = re.compile(r"https?://[^\s<>\"\x00-\x1f\x7f]+", re.IGNORECASE)
_SUBJECT_TITLE_CHARS = 100
# Marked here, translated where they are shown (the recipient's language is active only while rendering).
_PERIOD_LABELS: dict[str, str] = {
    "instant": N_("instant alert"),
    "daily": N_("daily digest"),
    "weekly": N_("weekly digest"),
}
_NOT_CONFIGURED = "e-mail is not configured: set POLLINATE_NOTIFICATIONS__SMTP__HOST"


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One matching need in a digest.

    Attributes:
        need_id: the need's database id.
        title: the need's title.
        party: ISO alpha-3 code of the Party that posted it, if any.
        score: the match score.
        summary: one sentence on why it matched.
        reasons: one line per signal (shared targets, geography, assistance types, language...).
        offer_title: which of the provider's offers fits it (None for saved-query subscriptions).
        url: link to the need in the API (http or https).
    """

    need_id: int
    title: str
    party: str | None
    score: float
    summary: str
    reasons: tuple[str, ...]
    offer_title: str | None
    url: str

    def __post_init__(self) -> None:
        if not _URL.fullmatch(self.url):
            raise ValueError(f"need {self.need_id}: url must be an http(s) URL without spaces, got {self.url!r}")


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything one e-mail to one provider says.

    Attributes:
        to: recipient e-mail address (a bare address, no display name).
        organisation: provider organisation name.
        subscription_id: the subscription this delivery belongs to.
        subscription_label: e.g. "Needs our offers fit" or the saved query text.
        period: ``instant``, ``daily`` or ``weekly``.
        items: the matching needs, at least one.
        unsubscribe_url: one-click unsubscribe URL (POST unsubscribes; GET shows a confirm button).
        delivery_id: unique id of this delivery; a retry of the same delivery reuses it.
        locale: the recipient's language (a language of ``matcher.language.catalogues.LOCALES``; any other is
            written in English). ``items`` are expected in that language too.
    """

    to: str
    organisation: str
    subscription_id: int
    subscription_label: str
    period: Period
    items: tuple[DigestItem, ...]
    unsubscribe_url: str
    delivery_id: str
    locale: str = i18n.DEFAULT_LOCALE

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError(f"delivery {self.delivery_id!r}: a digest needs at least one item")
        if self.period not in _PERIOD_LABELS:
            raise ValueError(f"period must be one of {sorted(_PERIOD_LABELS)}, got {self.period!r}")
        if not _DELIVERY_ID.fullmatch(self.delivery_id):
            raise ValueError(
                f"delivery_id must be 1-200 characters of letters, digits and . _ + = -, got {self.delivery_id!r}"
            )
        if not _URL.fullmatch(self.unsubscribe_url):
            raise ValueError(
                f"unsubscribe_url must be an http(s) URL without spaces, got {self.unsubscribe_url!r}"
            )


@dataclass(frozen=True, slots=True)
class _ItemView:
    """A digest item as the templates show it: one-line texts, formatted score and Party."""

    title: str
    party: str
    score: str
    summary: str
    reasons: tuple[str, ...]
    offer_title: str | None
    url: str


def _one_line(text: str) -> str:
    """``text`` on one line: control, format and line/paragraph separator characters become spaces.

    This is what makes header injection impossible (no CR or LF survives) and keeps bidi overrides and
    zero-width characters from disguising a subject.
    """
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" else ch for ch in text)
    return " ".join(cleaned.split())


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _party_label(party: str | None, locale: str) -> str:
    if not party:
        return _("not stated")
    country = vocab.countries().get(party.upper())
    if country is None:
        return _one_line(party)
    return f"{vocab.label('country', country.alpha3, locale)} ({country.alpha3})"


def _view(item: DigestItem, locale: str) -> _ItemView:
    return _ItemView(
        title=_one_line(item.title),
        party=_party_label(item.party, locale),
        score=i18n.format_decimal(item.score, "0.00"),
        summary=_one_line(item.summary),
        reasons=tuple(_one_line(r) for r in item.reasons),
        offer_title=_one_line(item.offer_title) if item.offer_title else None,
        url=item.url,
    )


def _subject(digest: Digest) -> str:
    """The subject in the active language (whole sentences per case: word order differs between languages)."""
    # A saved-query subscription has no offer behind its items; "your offers" would be wrong there.
    offers = any(item.offer_title for item in digest.items)
    count = len(digest.items)
    if count == 1:
        title = _shorten(_one_line(digest.items[0].title), _SUBJECT_TITLE_CHARS)
        if digest.period == "instant":
            if offers:
                return _("Pollinate: a new need matches your offers: %(title)s") % {"title": title}
            return _("Pollinate: a new need matches your saved search: %(title)s") % {"title": title}
        period = _(_PERIOD_LABELS[digest.period])
        if offers:
            return _("Pollinate: a new need matches your offers (%(period)s): %(title)s") % {
                "period": period,
                "title": title,
            }
        return _("Pollinate: a new need matches your saved search (%(period)s): %(title)s") % {
            "period": period,
            "title": title,
        }
    # Several items in an instant subscription are alerts held back by the hourly limit and sent together.
    label = _("bundled alerts") if digest.period == "instant" else _(_PERIOD_LABELS[digest.period])
    if offers:
        text = ngettext(
            "Pollinate: %(count)s new need matches your offers (%(period)s)",
            "Pollinate: %(count)s new needs match your offers (%(period)s)",
            count,
        )
    else:
        text = ngettext(
            "Pollinate: %(count)s new need matches your saved search (%(period)s)",
            "Pollinate: %(count)s new needs match your saved search (%(period)s)",
            count,
        )
    return text % {"count": count, "period": label}


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("matcher.alerts", "templates"),
        # Only the HTML template is escaped; the text part must show titles exactly as written.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # As for the pages: {% trans %} blocks are extracted and looked up with their whitespace collapsed, and the
    # callables read the language active while a digest renders.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env


def _recipient(to: str) -> str:
    try:
        address = Address(addr_spec=to.strip())
    except ValueError as exc:  # email.errors header defects are ValueErrors too
        raise DeliveryError(
            f"recipient {to!r} is not a single plain e-mail address ({exc}); fix the subscription's address",
            retryable=False,
        ) from exc
    if not address.domain:
        raise DeliveryError(f"recipient {to!r} has no domain; fix the subscription's address", retryable=False)
    return address.addr_spec


def _written(digest: Digest, locale: str) -> tuple[str, str, str]:
    """Subject, plain text and HTML of a digest, in the active language (``locale``, for the labels)."""
    subject = _subject(digest)
    context = {
        "subject": subject,
        "organisation": _one_line(digest.organisation),
        "subscription_id": digest.subscription_id,
        "subscription_label": _one_line(digest.subscription_label),
        "period": digest.period,
        "period_label": _(_PERIOD_LABELS[digest.period]),
        "items": [_view(item, locale) for item in digest.items],
        "unsubscribe_url": digest.unsubscribe_url,
        "locale": locale,
    }
    env = _environment()
    text = env.get_template("digest.txt.j2").render(context)
    return subject, text, env.get_template("digest.html.j2").render(context)


def render_digest(digest: Digest, *, sender: str) -> EmailMessage:
    """Render a digest as a ``multipart/alternative`` e-mail (plain text and HTML).

    Args:
        digest: what to say and to whom.
        sender: the From address, e.g. ``SmtpSettings.sender``.

    Returns:
        The message, with From, To, Subject, Date, a ``Message-ID`` derived from ``digest.delivery_id``,
        ``X-Pollinate-Delivery-Id``, ``Auto-Submitted`` and RFC 8058 one-click unsubscribe headers.

    Raises:
        DeliveryError: (not retryable) the recipient or the sender is not a usable address.
    """
    locale = i18n.supported(digest.locale)
    with i18n.activated(i18n.page_locale(locale)):
        subject, text, html = _written(digest, locale)

    message = _addressed(sender=sender, to=digest.to, subject=subject)
    # Deterministic: a resent delivery carries the same Message-ID, so clients and servers can deduplicate it.
    message["Message-ID"] = f"<{digest.delivery_id}@pollinate>"
    message["X-Pollinate-Delivery-Id"] = digest.delivery_id
    # RFC 3834: an automated message; keeps vacation responders from answering it.
    message["Auto-Submitted"] = "auto-generated"
    # RFC 8058 one-click unsubscribe: mail clients POST "List-Unsubscribe=One-Click" to the URL.
    message["List-Unsubscribe"] = f"<{digest.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Quoted-printable keeps both parts 7-bit (no 8BITMIME needed) and readable in the raw source.
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    for part in message.iter_parts():
        # add_alternative builds the parts as whole messages; MIME-Version belongs on the top level only.
        del part["MIME-Version"]
    return message


def _addressed(*, sender: str, to: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    try:
        message["From"] = sender
    except ValueError as exc:
        raise DeliveryError(
            f"sender {sender!r} is not a valid address ({exc}); fix POLLINATE_NOTIFICATIONS__SMTP__SENDER",
            retryable=False,
        ) from exc
    if len(message["From"].addresses) != 1 or message["From"].defects:
        raise DeliveryError(
            f"sender {sender!r} must be exactly one address, e.g. 'Pollinate <alerts@example.org>'; "
            "fix POLLINATE_NOTIFICATIONS__SMTP__SENDER",
            retryable=False,
        )
    message["To"] = _recipient(to)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    return message


def render_account_message(*, to: str, subject: str, text: str, sender: str) -> EmailMessage:
    """A plain-text message to one person about their account (a sign-in link, a decision), already written
    in their language by the caller.

    Unlike digests, it has no ``List-Unsubscribe`` (it is not a list) and a random ``Message-ID`` (it is never
    retried as the same message: a failed link e-mail is asked for again).

    Raises:
        DeliveryError: (not retryable) the recipient or the sender is not a usable address.
    """
    message = _addressed(sender=sender, to=to, subject=_one_line(subject))
    message["Message-ID"] = make_msgid(domain="pollinate")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, cte="quoted-printable")
    return message


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _reply(code: int, text: bytes | str) -> str:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {body}".strip()


class SmtpMailer:
    """Sends messages through the configured SMTP server, one connection per message.

    Args:
        settings: server, port, security, credentials and timeout.
        ssl_context: TLS context for ``starttls`` and ``ssl``; default: the system's trust store with host
            name checking (pass one with a private CA loaded for an internal relay, or in tests).
    """

    def __init__(self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._ssl_context = ssl_context

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _scrub(self, text: str) -> str:
        """``text`` with the password blanked, in case a server echoes what it was sent."""
        password = self._settings.password.get_secret_value() if self._settings.password else ""
        return text.replace(password, "***") if password else text

    def _error(self, message: str, *, retryable: bool, code: int | None = None) -> DeliveryError:
        where = f"{self._settings.host}:{self._settings.port}"
        return DeliveryError(self._scrub(f"SMTP {where}: {message}"), retryable=retryable, status_code=code)

    def send(self, message: EmailMessage) -> None:
        """Send ``message`` to the recipients in its To/Cc/Bcc headers.

        Raises:
            DeliveryError: ``retryable`` is False when trying again cannot help: e-mail not configured, a
                5xx reply (recipient or sender refused, bad credentials), STARTTLS or AUTH not offered, the
                server's certificate not trusted, or a message some recipients accepted and others refused
                (a retry would send it twice). It is True for 4xx replies, timeouts, refused or dropped
                connections and other network errors.
        """
        settings = self._settings
        if settings.host is None:
            raise DeliveryError(_NOT_CONFIGURED, retryable=False)
        if not message["To"] and not message["Cc"] and not message["Bcc"]:
            raise DeliveryError("the message has no recipient (no To, Cc or Bcc header)", retryable=False)
        try:
            refused = self._transmit(settings.host, message)
        except smtplib.SMTPRecipientsRefused as exc:
            replies = {addr: _reply(code, text) for addr, (code, text) in exc.recipients.items()}
            # Greylisting and full mailboxes answer 4xx: those recipients may accept later.
            permanent = all(_is_permanent(code) for code, _ in exc.recipients.values())
            codes = [code for code, _ in exc.recipients.values()]
            raise self._error(
                f"recipients refused: {replies}", retryable=not permanent, code=codes[0] if codes else None
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise self._error(
                f"{exc}; check POLLINATE_NOTIFICATIONS__SMTP__SECURITY and __USERNAME against what the server "
                "offers",
                retryable=False,
            ) from exc
        except smtplib.SMTPResponseException as exc:
            # Sender refused, data refused, authentication failed, HELO refused, greeting refused...
            hint = ""
            if isinstance(exc, smtplib.SMTPAuthenticationError):
                hint = "; check POLLINATE_NOTIFICATIONS__SMTP__USERNAME and __PASSWORD"
            raise self._error(
                f"{_reply(exc.smtp_code, exc.smtp_error)}{hint}",
                retryable=not _is_permanent(exc.smtp_code),
                code=exc.smtp_code,
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise self._error(
                f"the server's TLS certificate is not trusted ({exc.verify_message}); fix the certificate or "
                "POLLINATE_NOTIFICATIONS__SMTP__HOST",
                retryable=False,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            # Timeouts, refused connections, DNS failures, dropped connections: the next attempt may succeed.
            raise self._error(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        if refused:
            replies = {addr: _reply(code, text) for addr, (code, text) in refused.items()}
            raise self._error(
                f"some recipients refused, the others received the message: {replies}", retryable=False
            )
        log.info("sent %s via %s:%d", message["Message-ID"], settings.host, settings.port)

    def _transmit(self, host: str, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        settings = self._settings
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(host, settings.port, timeout=settings.timeout_s, context=self._context())
        else:
            smtp = smtplib.SMTP(host, settings.port, timeout=settings.timeout_s)
        try:
            if settings.security == "starttls":
                smtp.starttls(context=self._context())
            if settings.username is not None:
                password = settings.password.get_secret_value() if settings.password else ""
                smtp.login(settings.username, password)
            refused = smtp.send_message(message)
        except BaseException:
            smtp.close()
            raise
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            # The message was accepted: a failed goodbye must not become a retry that sends it twice.
            log.debug("QUIT failed after %s was accepted", message["Message-ID"], exc_info=True)
        finally:
            smtp.close()
        return refused
