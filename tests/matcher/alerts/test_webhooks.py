"""Webhook targets are checked against SSRF, deliveries are signed, pinned to checked addresses, and classified."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import standardwebhooks
from standardwebhooks.webhooks import WebhookVerificationError

from matcher.alerts.webhooks import (
    USER_AGENT,
    WebhookPolicy,
    check_target,
    new_secret,
    send_webhook,
    signed_headers,
    system_resolve,
)
from matcher.errors import DeliveryError, WebhookTargetError
from matcher.settings import NotificationSettings
from tests.loopback import Receiver

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:4700:4700::1111"
BODY = '{"event": "need.matched", "need_id": 42, "title": "Détection précoce"}'


def fixed(answers: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """A resolver answering from a table (and failing like getaddrinfo for anything else)."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolve


def recording(sent: list[httpx.Request], *, status: int) -> httpx.MockTransport:
    """A transport that keeps every request it is given and answers ``status``."""

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status)

    return httpx.MockTransport(handle)


def refused(url: str, policy: WebhookPolicy) -> str:
    with pytest.raises(WebhookTargetError) as info:
        check_target(url, policy)
    assert info.value.field == "webhook_url"
    return str(info.value)


# ------------------------------------------------------------------ target checks

HTTP_PUBLIC_ONLY = WebhookPolicy(allow_http=True)  # http allowed so that the address check is what refuses


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1", ["127.0.0.1", "loopback", "public"]),
        ("http://169.254.169.254/latest/meta-data", ["169.254.169.254", "link-local", "metadata"]),
        ("http://[::1]", ["::1", "loopback"]),
        ("http://[::ffff:127.0.0.1]", ["IPv4-mapped", "127.0.0.1", "loopback"]),
        ("http://0.0.0.0", ["unspecified"]),
        ("http://[::]/", ["unspecified"]),
        ("http://localhost", ["localhost", "loopback"]),
        ("http://localhost./x", ["loopback"]),
        ("http://api.localhost:8000/x", ["loopback"]),
        # Odd numeric spellings go through the real resolver, which reads them as the OS does.
        ("http://2130706433", ["2130706433", "resolves to 127.0.0.1", "loopback"]),
        ("http://127.1", ["127.1", "resolves to 127.0.0.1", "loopback"]),
        ("http://0x7f.1/", ["resolves to 127.0.0.1", "loopback"]),
    ],
)
def test_loopback_metadata_and_odd_numeric_targets_are_refused(url: str, words: list[str]) -> None:
    message = refused(url, HTTP_PUBLIC_ONLY)
    for word in words:
        assert word in message


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    policy = WebhookPolicy(resolve=fixed({"hooks.example": ["10.1.2.3"]}))
    message = refused("https://hooks.example/x", policy)
    assert "hooks.example resolves to 10.1.2.3, a private address" in message


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    policy = WebhookPolicy(resolve=fixed({"hooks.example": [PUBLIC_V4, "192.168.1.7", PUBLIC_V6]}))
    message = refused("https://hooks.example/x", policy)
    assert "192.168.1.7" in message
    assert "every address" in message


@pytest.mark.parametrize(
    ("address", "word"),
    [
        ("100.64.1.1", "shared"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fec0::1", "site-local"),
        ("198.18.0.1", "private"),
        ("2001:db8::1", "private"),
        ("2001::1", "private"),  # Teredo
        ("::ffff:10.0.0.1", "IPv4-mapped form of 10.0.0.1"),
        ("::7f00:1", "IPv4-compatible form of 127.0.0.1"),
        ("2002:a00:1::1", "6to4 form of 10.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254"),
        ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64: its embedding depends on the local prefix
    ],
)
def test_every_non_public_address_class_is_refused(address: str, word: str) -> None:
    policy = WebhookPolicy(resolve=fixed({"hooks.example": [address]}))
    message = refused("https://hooks.example/", policy)
    assert word in message


@pytest.mark.parametrize("address", [PUBLIC_V4, PUBLIC_V6, "64:ff9b::101:101", "2002:101:101::1"])
def test_public_addresses_and_embeddings_of_public_ipv4_pass(address: str) -> None:
    policy = WebhookPolicy(resolve=fixed({"hooks.example": [address]}))
    assert check_target("https://hooks.example/", policy).addresses == (address,)


def test_an_https_target_with_public_addresses_passes_normalised() -> None:
    policy = WebhookPolicy(resolve=fixed({"hooks.example": [PUBLIC_V4, PUBLIC_V6, PUBLIC_V4]}))
    target = check_target("HTTPS://Hooks.Example:443/in/pollinate?tag=a#part", policy)
    assert target.url == "https://hooks.example/in/pollinate?tag=a"
    assert (target.scheme, target.host, target.port) == ("https", "hooks.example", 443)
    assert target.addresses == (PUBLIC_V4, PUBLIC_V6)


def test_an_ipv4_mapped_public_address_is_connected_to_as_ipv4() -> None:
    policy = WebhookPolicy(resolve=fixed({"hooks.example": ["::ffff:1.1.1.1"]}))
    assert check_target("https://hooks.example:8443/", policy).addresses == ("1.1.1.1",)


def test_http_is_refused_unless_allowed_even_for_a_public_address() -> None:
    policy = WebhookPolicy(resolve=fixed({"hooks.example": [PUBLIC_V4]}))
    message = refused("http://hooks.example/x", policy)
    assert "must use https" in message
    assert "http://hooks.example/x" in message
    allowed = WebhookPolicy(allow_http=True, resolve=fixed({"hooks.example": [PUBLIC_V4]}))
    assert check_target("http://hooks.example/x", allowed).port == 80


def test_loopback_passes_only_when_private_targets_and_http_are_allowed() -> None:
    policy = WebhookPolicy(allow_http=True, allow_private=True)
    target = check_target("http://127.0.0.1:8080/hook", policy)
    assert target.addresses == ("127.0.0.1",)
    assert check_target("http://localhost:8080/hook", policy).port == 8080
    refused("http://127.0.0.1:8080/hook", WebhookPolicy(allow_private=True))  # still https only


def test_even_private_policies_refuse_unspecified_and_multicast_destinations() -> None:
    policy = WebhookPolicy(allow_http=True, allow_private=True)
    assert "unspecified" in refused("http://0.0.0.0:8080/", policy)
    assert "multicast" in refused("http://224.0.0.1/", policy)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://user:pw@hooks.example/x", ["user:password", "webhook-signature"]),
        ("ftp://user:hunter2@hooks.example/x", ["must use https", "ftp://***@hooks.example/x"]),
        ("https:///x", ["no host"]),
        ("https://hooks.example:99999/x", ["port 99999"]),
        ("https://hooks.example:0/x", ["port 0"]),
        ("https://hooks.example:abc/x", ["not a valid URL"]),
        ("ftp://hooks.example/x", ["must use https", "ftp://"]),
        ("/relative/path", ["must use https"]),
        ("https://nowhere.example/x", ["nowhere.example", "could not be resolved"]),
        ("https://empty.example/x", ["resolves to no address"]),
        ("https://junk.example/x", ["not an IP address"]),
        ("https://hooks.example/" + "a" * 480, ["at most 500"]),
    ],
)
def test_malformed_urls_are_refused_with_the_problem_named(url: str, words: list[str]) -> None:
    policy = WebhookPolicy(
        resolve=fixed({"hooks.example": [PUBLIC_V4], "empty.example": [], "junk.example": ["hooks.example"]})
    )
    message = refused(url, policy)
    for word in words:
        assert word in message


def test_the_policy_is_built_from_the_notification_settings() -> None:
    settings = NotificationSettings(webhook_allow_http=True, webhook_allow_private=True, webhook_timeout_s=3)
    policy = WebhookPolicy.from_settings(settings)
    assert (policy.allow_http, policy.allow_private, policy.timeout_s) == (True, True, 3.0)
    assert policy.resolve is system_resolve
    assert WebhookPolicy.from_settings(NotificationSettings()) == WebhookPolicy()
    with pytest.raises(ValueError, match="timeout"):
        WebhookPolicy(timeout_s=0)


# ------------------------------------------------------------------ signing


def test_new_secrets_are_random_whsec_secrets_of_24_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24
    assert first != second


def test_signed_headers_verify_and_a_tampered_body_does_not() -> None:
    secret = new_secret()
    headers = signed_headers(secret, delivery_id="dlv_01", timestamp=datetime.now(UTC), body=BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "dlv_01"
    assert standardwebhooks.Webhook(secret).verify(BODY, headers)["need_id"] == 42
    with pytest.raises(WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(BODY.replace("42", "43"), headers)
    with pytest.raises(WebhookVerificationError):
        standardwebhooks.Webhook(new_secret()).verify(BODY, headers)


def test_a_timestamp_in_another_timezone_signs_the_same_instant() -> None:
    secret = new_secret()
    moment = datetime.now(timezone(timedelta(hours=-7)))
    headers = signed_headers(secret, delivery_id="dlv_02", timestamp=moment, body=BODY)
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    standardwebhooks.Webhook(secret).verify(BODY, headers)


def test_bad_signing_inputs_are_refused_without_echoing_the_secret() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signed_headers(new_secret(), delivery_id="d", timestamp=datetime.now(), body=BODY)
    with pytest.raises(ValueError, match="delivery id"):
        signed_headers(new_secret(), delivery_id="d\r\nX-Evil: 1", timestamp=datetime.now(UTC), body=BODY)
    with pytest.raises(ValueError, match="whsec_") as info:
        signed_headers("whsec_", delivery_id="d", timestamp=datetime.now(UTC), body=BODY)
    assert info.value.__cause__ is None


# ------------------------------------------------------------------ a receiver on loopback


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(tls: ssl.SSLContext | None = None, **answer: object) -> Receiver:
        receiver = Receiver(**answer).start(tls)  # type: ignore[arg-type]
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def receiver(receivers: Callable[..., Receiver]) -> Receiver:
    return receivers()


LOCAL = WebhookPolicy(allow_http=True, allow_private=True, timeout_s=2.0)


def deliver(
    url: str, *, secret: str = "", policy: WebhookPolicy = LOCAL, client: httpx.Client | None = None
) -> int:
    return send_webhook(
        url, secret=secret or new_secret(), delivery_id="dlv_7", body=BODY, policy=policy, client=client
    )


def failure(
    url: str, *, secret: str = "", policy: WebhookPolicy = LOCAL, client: httpx.Client | None = None
) -> DeliveryError:
    secret = secret or new_secret()
    with pytest.raises(DeliveryError) as info:
        deliver(url, secret=secret, policy=policy, client=client)
    assert secret not in str(info.value)
    assert secret.removeprefix("whsec_") not in str(info.value)
    return info.value


def test_a_delivery_arrives_signed_with_the_exact_body(receiver: Receiver) -> None:
    secret = new_secret()
    assert deliver(receiver.url("/in?x=1"), secret=secret) == 204
    [seen] = receiver.requests
    assert seen.path == "/in?x=1"
    assert seen.body == BODY.encode("utf-8")
    assert seen.headers["webhook-id"] == "dlv_7"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert standardwebhooks.Webhook(secret).verify(seen.body, seen.headers)["need_id"] == 42


@pytest.mark.parametrize("client_follows", [False, True])
def test_a_redirect_is_reported_and_never_followed(
    receivers: Callable[..., Receiver], client_follows: bool
) -> None:
    elsewhere = receivers()
    redirecting = receivers(status=302, response_headers={"Location": elsewhere.url("/stolen")})
    with httpx.Client(follow_redirects=client_follows, trust_env=False) as client:
        error = failure(redirecting.url(), client=client)
    assert error.retryable is False
    assert error.status_code == 302
    assert "redirects are not followed" in str(error)
    assert f"answered 302 with Location {elsewhere.url('/stolen')}" in str(error)
    assert len(redirecting.requests) == 1
    assert elsewhere.requests == []


def test_a_redirect_to_the_metadata_service_is_reported(receivers: Callable[..., Receiver]) -> None:
    redirecting = receivers(status=302, response_headers={"Location": "http://169.254.169.254/\r\nX: y"})
    error = failure(redirecting.url())
    assert error.retryable is False
    assert "with Location http://169.254.169.254/" in str(error)
    assert "\r" not in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (404, False), (401, False), (410, False)],
)
def test_error_statuses_are_classified(receivers: Callable[..., Receiver], status: int, retryable: bool) -> None:
    receiver = receivers(
        status=status, response_body=b"signature\nmismatch", response_headers={"Retry-After": "30"}
    )
    error = failure(receiver.url())
    assert error.retryable is retryable
    assert error.status_code == status
    assert f"answered {status}" in str(error)
    assert "signature mismatch" in str(error)


def test_a_large_error_body_is_read_only_in_part(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers(status=500, response_body=b"x" * (4 * 1024 * 1024))
    error = failure(receiver.url())
    assert error.retryable is True
    assert len(str(error)) < 500


class EndlessBody(httpx.SyncByteStream):
    """A response body of 1 KiB chunks (up to 16 MiB) that counts how much of it was read."""

    def __init__(self) -> None:
        self.read = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.read < 16 * 1024 * 1024:
            self.read += 1024
            yield b"y" * 1024


def test_no_more_than_64_kib_of_a_response_is_read() -> None:
    body = EndlessBody()
    transport = httpx.MockTransport(lambda request: httpx.Response(502, stream=body))
    policy = WebhookPolicy(resolve=fixed({"hooks.example": [PUBLIC_V4]}))
    with httpx.Client(transport=transport) as client:
        error = failure("https://hooks.example/x", policy=policy, client=client)
    assert error.status_code == 502
    assert 0 < body.read <= 65 * 1024


def test_a_slow_receiver_times_out_retryably(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers(delay_s=30.0)
    started = time.monotonic()
    error = failure(receiver.url(), policy=WebhookPolicy(allow_http=True, allow_private=True, timeout_s=0.3))
    assert time.monotonic() - started < 10  # bounded by the timeout, not by the receiver's 30 s
    assert error.retryable is True
    assert error.status_code is None
    assert "did not answer within 0.3 s" in str(error)


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = failure(f"http://127.0.0.1:{port}/hook")
    assert error.retryable is True
    assert error.status_code is None
    assert "could not connect" in str(error)


def test_the_next_checked_address_is_tried_when_one_refuses(receiver: Receiver) -> None:
    # 127.0.0.2 is loopback too, but nothing listens there: the connection is refused before anything is sent.
    policy = WebhookPolicy(
        allow_http=True, allow_private=True, resolve=fixed({"hooks.example": ["127.0.0.2", "127.0.0.1"]})
    )
    assert deliver(receiver.url(host="hooks.example"), policy=policy) == 204
    assert len(receiver.requests) == 1


def test_the_target_is_checked_again_at_every_delivery() -> None:
    answers = iter([[PUBLIC_V4], ["10.0.0.5"]])
    policy = WebhookPolicy(resolve=lambda host, port: next(answers))
    sent: list[httpx.Request] = []
    transport = recording(sent, status=204)
    assert check_target("https://hooks.example/x", policy).addresses == (PUBLIC_V4,)
    with httpx.Client(transport=transport) as client:
        error = failure("https://hooks.example/x", policy=policy, client=client)
    assert error.retryable is False
    assert "resolves to 10.0.0.5, a private address" in str(error)
    assert "not attempted" in str(error)
    assert sent == []


@pytest.mark.parametrize(("errno", "retryable"), [(socket.EAI_AGAIN, True), (socket.EAI_NONAME, False)])
def test_only_a_temporary_dns_failure_is_retryable(errno: int, retryable: bool) -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(errno, "resolver said no")

    error = failure("https://hooks.example/x", policy=WebhookPolicy(resolve=resolve))
    assert error.retryable is retryable
    assert "could not be resolved" in str(error)


def test_a_delivery_is_pinned_to_the_checked_address_with_the_original_host(receiver: Receiver) -> None:
    policy = WebhookPolicy(allow_http=True, allow_private=True, resolve=fixed({"hooks.example": ["127.0.0.1"]}))
    assert deliver(f"http://hooks.example:{receiver.port}/x", policy=policy) == 204
    [seen] = receiver.requests
    assert seen.path == "/x"
    assert seen.headers["host"] == f"hooks.example:{receiver.port}"


def test_an_https_delivery_connects_to_the_address_and_names_the_host_for_tls() -> None:
    sent: list[httpx.Request] = []
    transport = recording(sent, status=202)
    policy = WebhookPolicy(resolve=fixed({"hooks.example": [PUBLIC_V6]}))
    with httpx.Client(transport=transport) as client:
        assert deliver("https://hooks.example/in", policy=policy, client=client) == 202
    [request] = sent
    assert str(request.url) == f"https://[{PUBLIC_V6}]/in"
    assert request.headers["host"] == "hooks.example"
    assert request.extensions["sni_hostname"] == "hooks.example"
    assert request.headers["connection"] == "close"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for hooks.example (its own trust anchor)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=hooks.example",
         "-addext", "subjectAltName=DNS:hooks.example"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize(("name", "delivered"), [("hooks.example", True), ("other.example", False)])
def test_tls_is_verified_against_the_original_host_name(
    receivers: Callable[..., Receiver], certificate: tuple[Path, Path], name: str, delivered: bool
) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    receiver = receivers(server_tls)
    policy = WebhookPolicy(allow_private=True, resolve=fixed({name: ["127.0.0.1"]}))
    url = receiver.url(scheme="https", host=name)
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), trust_env=False) as client:
        if delivered:
            assert deliver(url, policy=policy, client=client) == 204
            assert receiver.requests[0].headers["host"] == f"hooks.example:{receiver.port}"
        else:
            error = failure(url, policy=policy, client=client)
            assert error.retryable is True
            assert "TLS" in str(error)
            assert "certificate" in str(error)
            assert receiver.requests == []
    assert receiver.server_names == [name]
