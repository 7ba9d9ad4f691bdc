"""E-mail digests: rendering, escaping, header safety, and delivery through a real (local) SMTP server."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from matcher.alerts.mail import Digest, DigestItem, SmtpMailer, render_digest
from matcher.errors import DeliveryError
from matcher.language.catalogues import translations
from matcher.settings import SmtpSettings
from tests.loopback import Collector, free_port

SENDER = "Pollinate <alerts@pollinate.example>"
TO = "partnerships@provider.example"
UNSUBSCRIBE = "https://pollinate.example/v1/subscriptions/7/unsubscribe?token=abc123"


def item(need_id: int = 1, **changes: Any) -> DigestItem:
    base = DigestItem(
        need_id=need_id,
        title=f"Mangrove restoration monitoring {need_id}",
        party="KEN",
        score=0.8765,
        summary="Your offer trains coastal rangers in the monitoring this need asks for.",
        reasons=(
            "Shares KMGBF target 2 (Restore 30% of all degraded ecosystems).",
            "Serves Eastern Africa, Kenya's sub-region.",
        ),
        offer_title="Coastal ranger training",
        url=f"https://pollinate.example/v1/needs/{need_id}",
    )
    return replace(base, **changes)


def digest(*items: DigestItem, **changes: Any) -> Digest:
    base = Digest(
        to=TO,
        organisation="Blue Coast Trust",
        subscription_id=7,
        subscription_label="Needs our offers fit",
        period="daily",
        items=items or (item(1), item(2, title="Seagrass mapping", party="BRA")),
        unsubscribe_url=UNSUBSCRIBE,
        delivery_id="d-2024-0001",
    )
    return replace(base, **changes)


def parts(message: Message) -> tuple[str, str]:
    """(plain text, HTML) of a multipart/alternative message."""
    assert isinstance(message, EmailMessage)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


# ------------------------------------------------------------------ a local SMTP server


class RefusingCollector(Collector):
    """Refuses every recipient with ``reply``."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        return self.reply


@dataclass
class Authenticator:
    """Accepts one login and records every attempt."""

    login: bytes = b"mailer"
    password: bytes = b"s3cret-pw"
    attempts: list[tuple[str, bytes, bytes]] | None = None

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        if self.attempts is None:
            self.attempts = []
        self.attempts.append((mechanism, auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (self.login, self.password)
        # handled=False: let aiosmtpd send the 535 reply itself.
        return AuthResult(success=ok, handled=False)


StartServer = Callable[..., Controller]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts aiosmtpd controllers on free loopback ports; stops them after the test."""
    started: list[Controller] = []

    def start(handler: Collector, **kwargs: Any) -> Controller:
        # aiosmtpd connects to its own port to check it is up, so port 0 cannot be used: take a free one.
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


def settings_for(controller: Controller | None = None, **changes: Any) -> SmtpSettings:
    fields: dict[str, Any] = dict(
        host="127.0.0.1", port=controller.port if controller else free_port(), security="none", timeout_s=5.0
    )
    fields.update(changes)
    return SmtpSettings(sender=SENDER, **fields)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (certificate, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


# ------------------------------------------------------------------ delivery


def test_a_digest_arrives_as_text_and_html_with_every_item(start_server: StartServer) -> None:
    handler = Collector()
    controller = start_server(handler)
    sent = digest()

    SmtpMailer(settings_for(controller)).send(render_digest(sent, sender=SENDER))

    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.rcpt_tos == [TO]
    assert envelope.mail_from == "alerts@pollinate.example"
    assert isinstance(envelope.content, bytes)
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in received.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(received)
    # The HTML part is checked as a browser shows it (autoescaping turns ' into &#39; and & into &amp;).
    for body in (text, unescape(html)):
        for sent_item in sent.items:
            assert sent_item.title in body
            assert sent_item.url in body
            for reason in sent_item.reasons:
                assert reason in body
        assert "Kenya (KEN)" in body
        assert "Brazil (BRA)" in body
        assert "Coastal ranger training" in body
        assert "0.88" in body
        assert "Needs our offers fit" in body
        assert "Blue Coast Trust subscribed" in " ".join(body.split())
        assert UNSUBSCRIBE in body
    assert received["Message-ID"] == "<d-2024-0001@pollinate>"
    assert received["X-Pollinate-Delivery-Id"] == "d-2024-0001"
    # A long URL folds the header onto a continuation line; Python keeps the folding space when parsing.
    assert received["List-Unsubscribe"].strip() == f"<{UNSUBSCRIBE}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Subject"] == "Pollinate: 2 new needs match your offers (daily digest)"
    assert received["To"] == TO
    assert received["From"] == SENDER
    assert received["Date"] is not None


def test_a_retried_delivery_has_the_same_message_id() -> None:
    first = render_digest(digest(), sender=SENDER)
    again = render_digest(digest(), sender=SENDER)
    other = render_digest(digest(delivery_id="d-2024-0002"), sender=SENDER)
    assert first["Message-ID"] == again["Message-ID"] == "<d-2024-0001@pollinate>"
    assert other["Message-ID"] == "<d-2024-0002@pollinate>"


def test_subjects_name_the_count_period_and_kind_of_subscription() -> None:
    single = render_digest(digest(item(1, title="Wetland survey"), period="instant"), sender=SENDER)
    assert single["Subject"] == "Pollinate: a new need matches your offers: Wetland survey"
    weekly = render_digest(digest(item(1), item(2), item(3), period="weekly"), sender=SENDER)
    assert weekly["Subject"] == "Pollinate: 3 new needs match your offers (weekly digest)"
    french = render_digest(digest(item(1, title="Étude des zones humides " + "x" * 300)), sender=SENDER)
    assert french["Subject"].startswith("Pollinate: a new need matches your offers (daily digest): Étude des")
    assert french["Subject"].endswith("…")
    assert len(french["Subject"]) < 200
    saved = digest(item(1, offer_title=None), item(2, offer_title=None), subscription_label="seagrass mapping")
    saved_message = render_digest(saved, sender=SENDER)
    assert saved_message["Subject"] == "Pollinate: 2 new needs match your saved search (daily digest)"
    text, html = parts(saved_message)
    assert "Fits your offer" not in text
    assert "Fits your offer" not in html
    assert "seagrass mapping" in text


def test_a_need_without_a_party_says_so() -> None:
    text, html = parts(render_digest(digest(item(1, party=None)), sender=SENDER))
    assert "Party: not stated" in text
    assert "Party: not stated" in html


def test_titles_are_escaped_in_html_and_verbatim_in_text() -> None:
    title = "<script>alert(1)</script> & co"
    text, html = parts(render_digest(digest(item(1, title=title), item(2)), sender=SENDER))
    assert title in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "<script>" not in html
    assert "& co" not in html


def test_a_title_with_a_line_break_cannot_add_headers_or_recipients(start_server: StartServer) -> None:
    handler = Collector()
    controller = start_server(handler)
    title = "Wetland survey\r\nBcc: evil@example.com"
    message = render_digest(digest(item(1, title=title), period="instant"), sender=SENDER)
    assert message["Bcc"] is None
    assert message["Subject"] == "Pollinate: a new need matches your offers: Wetland survey Bcc: evil@example.com"

    SmtpMailer(settings_for(controller)).send(message)

    envelope = handler.envelopes[0]
    assert envelope.rcpt_tos == [TO]
    assert isinstance(envelope.content, bytes)
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Bcc"] is None
    header_block = envelope.content.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc:") for line in header_block.split(b"\r\n"))


def test_a_recipient_that_is_not_one_plain_address_is_refused() -> None:
    for bad in ("a@example.org, evil@example.com", "a@example.org\r\nBcc: evil@example.com", "nobody"):
        with pytest.raises(DeliveryError) as caught:
            render_digest(digest(to=bad), sender=SENDER)
        assert caught.value.retryable is False


def test_invalid_digests_fail_when_built() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        Digest(
            to=TO,
            organisation="Blue Coast Trust",
            subscription_id=7,
            subscription_label="Needs our offers fit",
            period="daily",
            items=(),
            unsubscribe_url=UNSUBSCRIBE,
            delivery_id="d-1",
        )
    with pytest.raises(ValueError, match="delivery_id"):
        digest(delivery_id="x>\r\nBcc: evil@example.com")
    with pytest.raises(ValueError, match="unsubscribe_url"):
        digest(unsubscribe_url="https://pollinate.example/u>\r\nBcc: evil@example.com")
    with pytest.raises(ValueError, match="url"):
        item(1, url="javascript:alert(1)")


# ------------------------------------------------------------------ failures


def test_unconfigured_smtp_is_a_permanent_error() -> None:
    with pytest.raises(DeliveryError, match="POLLINATE_NOTIFICATIONS__SMTP__HOST") as caught:
        SmtpMailer(SmtpSettings()).send(render_digest(digest(), sender=SENDER))
    assert caught.value.retryable is False


def test_a_refused_recipient_is_a_permanent_error(start_server: StartServer) -> None:
    handler = RefusingCollector("550 no such user")
    controller = start_server(handler)
    with pytest.raises(DeliveryError, match="no such user") as caught:
        SmtpMailer(settings_for(controller)).send(render_digest(digest(), sender=SENDER))
    assert caught.value.retryable is False
    assert caught.value.status_code == 550
    assert handler.envelopes == []


def test_a_temporarily_refused_recipient_is_retried(start_server: StartServer) -> None:
    controller = start_server(RefusingCollector("451 greylisted, try again later"))
    with pytest.raises(DeliveryError, match="greylisted") as caught:
        SmtpMailer(settings_for(controller)).send(render_digest(digest(), sender=SENDER))
    assert caught.value.retryable is True
    assert caught.value.status_code == 451


def test_nothing_listening_is_a_retryable_error() -> None:
    with pytest.raises(DeliveryError) as caught:
        SmtpMailer(settings_for(None)).send(render_digest(digest(), sender=SENDER))
    assert caught.value.retryable is True


# ------------------------------------------------------------------ authentication and TLS


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # loopback only
def test_login_is_used_when_a_username_is_set(start_server: StartServer) -> None:
    handler, auth = Collector(), Authenticator()
    controller = start_server(handler, authenticator=auth, auth_require_tls=False, auth_required=True)
    settings = settings_for(controller, username="mailer", password=SecretStr("s3cret-pw"))

    SmtpMailer(settings).send(render_digest(digest(), sender=SENDER))

    assert auth.attempts is not None
    assert [(login, password) for _, login, password in auth.attempts] == [(b"mailer", b"s3cret-pw")]
    assert len(handler.envelopes) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")  # loopback only
def test_a_wrong_password_is_permanent_and_never_shown(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Collector()
    controller = start_server(handler, authenticator=Authenticator(), auth_require_tls=False, auth_required=True)
    settings = settings_for(controller, username="mailer", password=SecretStr("wrong-pw-42"))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(DeliveryError) as caught:
        SmtpMailer(settings).send(render_digest(digest(), sender=SENDER))

    assert caught.value.retryable is False
    assert caught.value.status_code == 535
    assert "wrong-pw-42" not in str(caught.value)
    assert "wrong-pw-42" not in caplog.text
    assert handler.envelopes == []


def test_starttls_is_negotiated_and_the_certificate_checked(
    start_server: StartServer, certificate: tuple[Path, Path]
) -> None:
    handler = Collector()
    controller = start_server(handler, tls_context=server_tls(certificate), require_starttls=True)
    settings = settings_for(controller, security="starttls")

    SmtpMailer(settings, ssl_context=client_tls(certificate)).send(render_digest(digest(), sender=SENDER))
    assert handler.tls == [True]

    # The same server with the system trust store: the self-signed certificate is not trusted.
    with pytest.raises(DeliveryError, match="certificate") as caught:
        SmtpMailer(settings).send(render_digest(digest(), sender=SENDER))
    assert caught.value.retryable is False
    assert len(handler.envelopes) == 1


def test_starttls_against_a_server_without_it_is_permanent(start_server: StartServer) -> None:
    controller = start_server(Collector())
    with pytest.raises(DeliveryError, match="SECURITY") as caught:
        SmtpMailer(settings_for(controller, security="starttls")).send(render_digest(digest(), sender=SENDER))
    assert caught.value.retryable is False


def test_implicit_tls(start_server: StartServer, certificate: tuple[Path, Path]) -> None:
    handler = Collector()
    controller = start_server(handler, ssl_context=server_tls(certificate))
    settings = settings_for(controller, security="ssl")

    SmtpMailer(settings, ssl_context=client_tls(certificate)).send(render_digest(digest(), sender=SENDER))

    assert handler.tls == [True]
    assert handler.envelopes[0].rcpt_tos == [TO]


# ------------------------------------------------------------------ the recipient's language


def test_a_french_digest_is_written_from_the_french_catalogue() -> None:
    french = translations("fr")
    message = render_digest(digest(locale="fr"), sender=SENDER)
    text, html = parts(message)
    period = french.gettext("daily digest")
    assert period == "résumé quotidien"
    expected = french.ngettext(
        "Pollinate: %(count)s new need matches your offers (%(period)s)",
        "Pollinate: %(count)s new needs match your offers (%(period)s)",
        2,
    ) % {"count": 2, "period": period}
    assert message["Subject"] == expected
    assert message["Subject"].startswith("Pollinate : 2 nouveaux besoins")
    assert 'lang="fr"' in html
    for english in ("Hello Blue Coast Trust,", "Open the need", "Fits your offer:", "Unsubscribe"):
        assert english not in text + html
    assert french.gettext("Hello %(organisation)s,") % {"organisation": "Blue Coast Trust"} in text
    assert french.gettext("Open the need:") in text
    assert unescape(french.gettext("Open the need")) in unescape(html)
    # Labels in French too: the country's French name and the score with a decimal comma.
    assert "Kenya (KEN)" in text and "Brésil (BRA)" in text
    assert "0,88" in text and "0.88" not in text


def test_a_spanish_saved_search_digest_for_one_need_names_the_period() -> None:
    message = render_digest(
        digest(item(1, offer_title=None, title="Humedales"), period="weekly", locale="es"), sender=SENDER
    )
    weekly = translations("es").gettext("weekly digest")
    assert weekly != "weekly digest"
    assert message["Subject"] == translations("es").gettext(
        "Pollinate: a new need matches your saved search (%(period)s): %(title)s"
    ) % {"period": weekly, "title": "Humedales"}
    text, _html = parts(message)
    assert translations("es").gettext("not stated") != "not stated"
    assert "Hello" not in text


def test_an_english_or_unknown_language_digest_is_unchanged() -> None:
    english = render_digest(digest(), sender=SENDER)
    for locale in ("en", "de", ""):
        other = render_digest(digest(locale=locale), sender=SENDER)
        assert other["Subject"] == english["Subject"] == "Pollinate: 2 new needs match your offers (daily digest)"
        assert parts(other) == parts(english)
    text, html = parts(english)
    assert text.startswith("Hello Blue Coast Trust,\n\n2 new needs match your subscription")
    assert "Party: Kenya (KEN)" in text and "Score: 0.88" in text
    assert 'lang="en"' in html
