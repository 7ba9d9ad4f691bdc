"""Outbound URLs: which addresses the server may call on someone else's say-so.

A webhook URL is chosen by a subscriber and a connector's source URL by whoever writes its definition; neither
may make the server reach what a stranger should not: loopback services, the private network, or the cloud
metadata service at 169.254.169.254. :func:`check_url` parses the URL with the same parser that sends the
request (httpx), resolves the host the way the operating system would (``getaddrinfo``, so odd numeric spellings
such as ``2130706433`` or ``127.1`` are judged by the address they really mean), and refuses the URL if *any*
address is not a public internet address. Callers then connect to one of the checked addresses rather than to
the host name (the ``Host`` header and the TLS server name stay the original host), so a DNS answer that changes
between the check and the connection (DNS rebinding) cannot redirect the request.

Used by the webhooks (``matcher.alerts.webhooks``) and the connectors (``matcher.connectors.fetch``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from matcher.errors import OutboundTargetError

__all__ = [
    "MAX_URL_LENGTH",
    "OutboundPolicy",
    "OutboundTarget",
    "check_url",
    "connectable_url",
    "host_header",
    "printable",
    "shown",
    "system_resolve",
    "transient",
]

MAX_URL_LENGTH = 500
_EXCERPT_CHARS = 200
_USERINFO = re.compile(r"//[^/?#]*@")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_CLOUD_METADATA = ipaddress.IPv4Address("169.254.169.254")

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves ``host`` to, in its order of preference, without repeats.

    Args:
        host: a host name or numeric address in any form ``getaddrinfo`` accepts.
        port: the TCP port (it only narrows the answer to stream sockets).

    Returns:
        IP address strings.

    Raises:
        OSError: (``socket.gaierror``) the name does not resolve.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which URLs may be called, and how long a request may take.

    Attributes:
        allow_http: accept ``http://`` URLs (production: False, https only).
        allow_private: accept loopback, private and link-local addresses (tests only).
        timeout_s: connect, write and read timeout of one request, and the budget for reading its response.
        resolve: ``(host, port) -> IP address strings`` for host names (IP literals are used as they are);
            :func:`system_resolve` unless a test injects one.
    """

    allow_http: bool = False
    allow_private: bool = False
    timeout_s: float = 10.0
    resolve: Callable[[str, int], list[str]] = system_resolve

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"outbound timeout must be > 0 seconds (got {self.timeout_s})")


@dataclass(frozen=True, slots=True)
class OutboundTarget:
    """A URL that passed :func:`check_url`.

    Attributes:
        url: the normalised URL (lower-case scheme and host, default port and fragment dropped).
        scheme: ``https`` (or ``http`` where the policy allows it).
        host: the host as sent in the ``Host`` header and as TLS server name (IDNA-encoded; IPv6 unbracketed).
        port: the TCP port, explicit or the scheme's default.
        addresses: every address the host resolved to, all allowed by the policy, in connection order.
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def check_url(
    url: str,
    policy: OutboundPolicy,
    *,
    noun: str = "outbound",
    public_only: str = "only public internet addresses may be called",
    userinfo_hint: str = "give credentials another way",
    error: Callable[[str], OutboundTargetError] = OutboundTargetError,
) -> OutboundTarget:
    """Check that ``url`` may be called under ``policy``, resolving its host.

    Args:
        url: the URL to call.
        policy: what is allowed; ``policy.resolve`` resolves the host.
        noun: what the URL is, as messages name it ("webhook", "connector source").
        public_only: the rule, as refusals quote it.
        userinfo_hint: how to authenticate instead of ``user:password@`` in the URL.
        error: the error type raised (a subclass of ``OutboundTargetError``).

    Returns:
        The checked target with every resolved address.

    Raises:
        OutboundTargetError: the URL is malformed, too long, not https (unless allowed), carries credentials,
            has a bad port, does not resolve, or any of its addresses is not a public internet address
            (unless the policy allows private targets).
    """
    if len(url) > MAX_URL_LENGTH:
        raise error(f"{noun} URLs may be at most {MAX_URL_LENGTH} characters (got {len(url)})")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise error(f"{noun} URL {shown(url)} is not a valid URL: {exc}") from exc

    allowed = ("https", "http") if policy.allow_http else ("https",)
    if parsed.scheme not in allowed:
        wanted = "https or http" if policy.allow_http else "https"
        raise error(f"{noun} targets must use {wanted} (got {shown(url)})")
    if parsed.userinfo:
        raise error(f"{noun} URLs may not contain user:password; {userinfo_hint}")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise error(f"{noun} URL {shown(url)} has no host; give a full URL like https://host/path")
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[parsed.scheme]
    if not 1 <= port <= 65535:
        raise error(f"{noun} URL {shown(url)} has port {port}; ports run from 1 to 65535")
    # RFC 6761: these names are loopback by definition, whatever a resolver says.
    if not policy.allow_private and (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")):
        raise error(f"{noun} target {host} is a loopback name; {public_only}")

    addresses = _addresses(host, port, policy, noun=noun, error=error)
    if not policy.allow_private:
        literal = _literal(host)
        for address in addresses:
            reason = _refusal(address)
            if reason is None:
                continue
            if literal is not None:
                raise error(f"{noun} target {host} is {reason}; {public_only}")
            raise error(
                f"{noun} target {host} resolves to {address}, {reason}; {public_only} "
                "(every address the name resolves to must be public)"
            )
    for address in addresses:
        if address.is_multicast or address.is_unspecified:
            # Not a destination a TCP connection can sensibly go to, whatever the policy.
            raise error(f"{noun} target {host} resolves to {address}, {_refusal(address)}")
    return OutboundTarget(
        url=str(parsed.copy_with(fragment=None)),
        scheme=parsed.scheme,
        host=host,
        port=port,
        addresses=tuple(str(_connectable(address)) for address in addresses),
    )


def connectable_url(target: OutboundTarget, address: str, url: str | None = None) -> httpx.URL:
    """``url`` (default: the target's) with its host replaced by one of the target's checked addresses."""
    return httpx.URL(url or target.url).copy_with(host=address)


def host_header(target: OutboundTarget) -> str:
    """``host[:port]`` as the original URL names it (the port only when it is not the scheme's default)."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == _DEFAULT_PORTS[target.scheme] else f"{host}:{target.port}"


def transient(exc: OutboundTargetError) -> bool:
    """Whether a refused target may be fine later: only a resolver that timed out or asked to try again."""
    cause = exc.__cause__
    if isinstance(cause, socket.gaierror):
        return cause.errno == socket.EAI_AGAIN
    return isinstance(cause, TimeoutError)


def _addresses(
    host: str, port: int, policy: OutboundPolicy, *, noun: str, error: Callable[[str], OutboundTargetError]
) -> list[_Address]:
    """The host's addresses: itself when it is an IP literal, otherwise what the resolver answers."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        answers = policy.resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise error(f"{noun} target host {host} could not be resolved ({exc}); check the host name") from exc
    if not answers:
        raise error(f"{noun} target host {host} resolves to no address; check the host name")
    addresses: list[_Address] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer))
        except ValueError as exc:
            raise error(f"{noun} target host {host} resolved to {answer!r}, which is not an IP address") from exc
    return list(dict.fromkeys(addresses))


def _literal(host: str) -> _Address | None:
    """The address when ``host`` is a canonical IP literal (httpx has already unbracketed IPv6)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _refusal(address: _Address) -> str | None:
    """Why ``address`` is not a public internet address (``"a loopback address"``...), or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded, form = _embedded_ipv4(address)
        if embedded is not None:
            reason = _refusal(embedded)
            return None if reason is None else f"{form} of {embedded}, {reason}"
        if address.is_site_local:
            return "a site-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        if address == _CLOUD_METADATA:
            return "a link-local address (the cloud metadata service)"
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a non-public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    """The IPv4 address an IPv6 address stands for, and how it embeds it; (None, "") for plain IPv6.

    An IPv4-mapped, IPv4-compatible, 6to4 or NAT64 address reaches (or is translated to) the IPv4 address
    inside it, so that address is what must be public.
    """
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "an IPv4-mapped form"
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are themselves, not embeddings
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "an IPv4-compatible form"
    if address.sixtofour is not None:
        return address.sixtofour, "a 6to4 form"
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "a NAT64 form"
    return None, ""


def _connectable(address: _Address) -> _Address:
    """The address to open a socket to: IPv4-mapped addresses as plain IPv4 (IPv6-only sockets reject them)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def shown(url: str) -> str:
    """A URL as quoted in messages: printable, of bounded length, and without a password it may carry."""
    return printable(_USERINFO.sub("//***@", url, count=1), limit=120)


def printable(text: str, *, limit: int = _EXCERPT_CHARS) -> str:
    """``text`` on one line with control characters replaced, cut to ``limit`` characters.

    Receivers choose response bodies and Location headers; they must not be able to forge log lines.
    """
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
