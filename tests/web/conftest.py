"""Fixtures of the web page tests: one real uvicorn server on loopback over a seeded SQLite database, and one
headless Chromium, both shared by the whole test session.

The server serves the demo corpus (172 offers, 42 public needs) plus a confidential need and a paused offer
whose titles are unique markers, with the hashing embedder (word hashing: searches rank by shared words, and
the server starts in seconds) and no language centring (hashing vectors have no language direction to
remove). Tests only read, so they can share it in any order.

The browser is Debian's Chromium (``/usr/bin/chromium``), driven by Playwright; it is never downloaded. Where
it is missing, the browser tests are skipped with that reason (CI installs it: ``.ci/run``).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from api.web.auth import SESSION_COOKIE
from matcher.access.rules import Principal
from matcher.records import needs, offers
from matcher.records.seed import seed_demo
from matcher.settings import Settings
from models import migrate
from models.db import Database
from models.repositories import OfferRepository
from tests.factories import web_session
from tests.loopback import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
STAFF = Principal(role="secretariat")
CONFIDENTIAL_TITLE = "Zorblat confidential seed vault inventory"
PAUSED_TITLE = "Quillomere paused herbarium digitisation"
_USER_NUMBERS = itertools.count(1)


def unique_name(prefix: str) -> str:
    """A user name no other test of this session uses (the tests share one server and its users)."""
    return f"{prefix}-{next(_USER_NUMBERS)}"


@dataclass(frozen=True)
class Site:
    """The running server and the records the tests look for."""

    url: str
    confidential_need: int
    public_need: int
    paused_offer: int
    active_offer: int
    provider: int
    data_dir: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30, **kwargs)

    def database(self) -> Database:
        """The server's database (tests that add users and sessions write through it; dispose it after)."""
        return Settings(data_dir=self.data_dir).open_database()

    def client_as(
        self, role: str, *, country: str | None = None, organisation_id: int | None = None
    ) -> httpx.Client:
        """A browser signed in as a new user with ``role`` (its session made directly in the database)."""
        db = self.database()
        try:
            name = unique_name(f"{role}-{country or organisation_id or 'staff'}")
            token = web_session(db, role=role, name=name, country=country, organisation_id=organisation_id)
        finally:
            db.dispose()
        return httpx.Client(base_url=self.url, cookies={SESSION_COOKIE: token}, timeout=30)


def _seed(data_dir: Path) -> dict[str, int]:
    settings = Settings(data_dir=data_dir)
    db = settings.open_database()
    try:
        migrate.upgrade(db)
        seed_demo(db)
        with db.transaction() as session:
            active = OfferRepository(session).get_by_external_id("demo-o001")
            assert active is not None
            body = {
                "title": CONFIDENTIAL_TITLE,
                "description": "Inventory of the drylands seed vault, shared with the secretariat only.",
                "targets": [4],
                "assistance_types": ["technical_advice"],
                "party": "KEN",
                "visibility": "confidential",
            }
            confidential = needs.create_need(session, needs.plan_need(session, STAFF, body)).id
            public = needs.create_need(
                session,
                needs.plan_need(session, STAFF, {**body, "title": "Drylands seed bank", "visibility": "public"}),
            ).id
            paused = offers.create_offer(
                session,
                STAFF,
                {
                    "organisation_id": active.organisation_id,
                    "title": PAUSED_TITLE,
                    "description": "Digitising herbarium sheets; paused while the scanner is repaired.",
                    "targets": [21],
                    "assistance_types": ["data_sharing"],
                    "languages": ["en"],
                    "regions_served": ["Global"],
                    "status": "paused",
                },
            ).id
            return {
                "confidential_need": confidential,
                "public_need": public,
                "paused_offer": paused,
                "active_offer": active.id,
                "provider": active.organisation_id,
            }
    finally:
        db.dispose()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server not ready after 90 s:\n{log.read_text(errors='replace')[-3000:]}")


class MailSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message the site sends."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address`` so far."""
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, *, count: int = 1) -> EmailMessage:
        """The ``count``-th message to ``address``, waiting up to 30 s for it to arrive."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.05)
        pytest.fail(f"no message number {count} to {address} within 30 s")


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    """The local SMTP sink the site's account e-mails go to (started before the server)."""
    sink = MailSink()
    sink._controller.start()
    try:
        yield sink
    finally:
        sink._controller.stop()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, mail_sink: MailSink) -> Iterator[Site]:
    """The web pages served by a real uvicorn process on 127.0.0.1 over the seeded demo corpus (account e-mails
    go to ``mail_sink``)."""
    data_dir = tmp_path_factory.mktemp("web")
    ids = _seed(data_dir)
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("POLLINATE_")}
    env.update(
        POLLINATE_DATA_DIR=str(data_dir),
        POLLINATE_EMBEDDING__MODEL="hashing",
        # Language centring removes a model's language direction; word-hashing vectors have none, and centring
        # them subtracts a bag of function words that outweighs a four-word query: with the centroids fitted
        # on the parallel reference texts, a Spanish offer came first for "rats seabird eggs islands".
        POLLINATE_RANKING__LANGUAGE_CENTERING="0",
        POLLINATE_API__ANONYMOUS_RATE="100000/minute",
        POLLINATE_API__LOG_FORMAT="console",
        OMP_NUM_THREADS="1",
        POLLINATE_NOTIFICATIONS__PUBLIC_URL=f"http://127.0.0.1:{port}",
        POLLINATE_NOTIFICATIONS__SMTP__HOST="127.0.0.1",
        POLLINATE_NOTIFICATIONS__SMTP__PORT=str(mail_sink.port),
        POLLINATE_NOTIFICATIONS__SMTP__SECURITY="none",
        POLLINATE_NOTIFICATIONS__SMTP__TIMEOUT_S="5",
        # The throttling tests name their client address through this header (uvicorn believes it from here).
        FORWARDED_ALLOW_IPS="127.0.0.1",
    )
    log = data_dir / "server.log"
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield Site(url=url, data_dir=data_dir, **ids)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), shared by the session; skipped where it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (CI installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script (``npm ci --prefix tests/web`` installs it; ``make install`` and CI run that)."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `npm ci --prefix tests/web`")
    return AXE.read_text(encoding="utf-8")
