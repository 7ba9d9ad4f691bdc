"""E-mails about a person's account, written in their language and sent after the page has answered.

The text comes from ``templates/emails/<kind>.txt`` rendered in the person's language (their setting, else the
language of the page they used), the subject from :data:`SUBJECTS`; links start with
``POLLINATE_NOTIFICATIONS__PUBLIC_URL``. Messages go through the alerts' SMTP mailer and settings
(``POLLINATE_NOTIFICATIONS__SMTP__*``).

**When they are sent.** In the same process, as a background task that runs once the response has gone
(Starlette's ``BackgroundTasks``), not through the delivery worker's outbox. The page therefore answers the
same, and as fast, whether or not an address has an account (sending only for real accounts inside the
request would time it), and nothing needs the worker to be running. The worker's retries over hours do not
suit a link that expires in an hour: when a message cannot be sent, the failure is logged (its kind and the
SMTP error, never the link or the address) and the person asks again.
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import BackgroundTasks
from starlette.requests import Request

from api.web import i18n
from api.web.i18n import gettext_noop as N_  # noqa: N812 - the name message extraction looks for
from api.web.rendering import ENV
from matcher.access import people
from matcher.alerts.mail import SmtpMailer, render_account_message
from matcher.errors import DeliveryError
from matcher.settings import Settings

log = logging.getLogger("pollinate.web.mail")

SUBJECTS: Final = {
    "reset": N_("Choose a new Pollinate password"),
    "invitation": N_("You are invited to Pollinate"),
    "approved": N_("Your Pollinate registration is approved"),
    "rejected": N_("Your Pollinate registration"),
    "registered": N_("We received your Pollinate registration"),
    "already_registered": N_("Your Pollinate account"),
}


def public_url(request: Request, path: str) -> str:
    """An absolute link to ``path`` on the site as people reach it (the configured public URL)."""
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings.notifications.public_url.rstrip("/") + path


def send_later(
    request: Request,
    tasks: BackgroundTasks,
    kind: str,
    *,
    to: str,
    locale: str | None,
    context: dict[str, object],
) -> None:
    """Write the ``kind`` message to ``to`` now (in ``locale``, else the page's language); send it after the
    response."""
    code = locale if locale in i18n.LOCALES else i18n.negotiate(request).code
    with i18n.activated(i18n.page_locale(code)):
        subject = i18n.gettext(SUBJECTS[kind])
        text = ENV.get_template(f"emails/{kind}.txt").render({**context, "site": public_url(request, "/")})
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    smtp = settings.notifications.smtp
    tasks.add_task(_send, SmtpMailer(smtp), smtp.sender, kind, to, subject, text)


def _send(mailer: SmtpMailer, sender: str, kind: str, to: str, subject: str, text: str) -> None:
    try:
        mailer.send(render_account_message(to=to, subject=subject, text=text, sender=sender))
    except DeliveryError as exc:
        # The message holds a sign-in link: log what failed, never the message or its recipient.
        log.warning("account e-mail %r not sent: %s", kind, str(exc).replace(to, "<recipient>"))


def send_link(request: Request, tasks: BackgroundTasks, kind: str, link: people.Link) -> None:
    """E-mail ``link`` (to choose a password) in the person's language, after the response."""
    url = public_url(request, f"/password/choose/{link.token}")
    send_later(request, tasks, kind, to=link.email, locale=link.locale, context={"name": link.name, "url": url})
