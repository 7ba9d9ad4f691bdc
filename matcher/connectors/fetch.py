"""Reading a connector's source: pages over HTTP(S) with conditional requests, or a file.

Every URL (the first page's, and every next link a source hands out) is checked with the webhooks' outbound
rule (:func:`matcher.access.outbound.check_url`: https, public addresses, unless the connector settings allow
otherwise for tests), and the request goes to one of the checked addresses with the original ``Host`` header and
TLS server name, so a DNS answer that changes between the check and the connection cannot redirect it.
Redirects are not followed (a next link or a new URL in the definition is the way to move a feed). Bodies are
read up to ``max_page_bytes``.

A page fetched before is asked for with ``If-None-Match`` (its ETag) and ``If-Modified-Since`` (its
Last-Modified); a ``304 Not Modified`` answer is returned as such, unparsed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from matcher.access.outbound import (
    OutboundPolicy,
    OutboundTarget,
    check_url,
    connectable_url,
    host_header,
    printable,
    shown,
)
from matcher.connectors.definition import ConnectorDefinition
from matcher.connectors.mapping import get_path
from matcher.errors import HarvestError, OutboundTargetError
from matcher.settings import ConnectorSettings

USER_AGENT = "Pollinate-Connectors/1"
_LINK_NEXT = re.compile(r"""<([^>]*)>\s*;[^,]*\brel="?next"?""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Validators:
    """What a page answered last time (sent back as conditions)."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(slots=True)
class Page:
    """One fetched page: its records (None when it was not modified), validators and next URL."""

    url: str
    not_modified: bool = False
    records: list[dict[str, Any]] | None = None
    validators: Validators = field(default_factory=Validators)
    next_url: str | None = None
    link_next: str | None = None


def policy_of(settings: ConnectorSettings) -> OutboundPolicy:
    """The outbound policy of the connector settings, with the system resolver."""
    return OutboundPolicy(
        allow_http=settings.allow_http, allow_private=settings.allow_private, timeout_s=settings.timeout_s
    )


def check_source_url(url: str, policy: OutboundPolicy) -> OutboundTarget:
    """Check a source URL under the outbound rule (raises OutboundTargetError naming the rule)."""
    return check_url(
        url,
        policy,
        noun="connector source",
        public_only="connectors may only read public internet addresses",
        userinfo_hint="put an access token in the source's query string or ask the source to publish openly",
        error=lambda message: OutboundTargetError(message, field="source.url"),
    )


class HttpSource:
    """Fetches the pages of one definition's URL source."""

    def __init__(
        self,
        definition: ConnectorDefinition,
        settings: ConnectorSettings,
        *,
        policy: OutboundPolicy | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        assert definition.source.url is not None
        self.definition = definition
        self.settings = settings
        self.policy = policy or policy_of(settings)
        self.client = client

    def first_url(self) -> str:
        url = self.definition.source.url
        assert url is not None
        paging = self.definition.source.paging
        if paging.style == "offset":
            return _with_params(url, {paging.offset_param: "0", paging.limit_param: str(paging.page_size)})
        return url

    def fetch(self, url: str, validators: Validators | None) -> Page:
        """One page (raises HarvestError when the source cannot be read)."""
        try:
            target = check_source_url(url, self.policy)
        except OutboundTargetError as exc:
            raise HarvestError(f"{exc}; nothing was fetched") from exc
        headers = {
            "Host": host_header(target),
            "User-Agent": USER_AGENT,
            "Accept": "application/json, application/x-ndjson, text/csv;q=0.9, */*;q=0.1",
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        http = self.client if self.client is not None else httpx.Client(trust_env=False)
        try:
            failure: Exception | None = None
            for address in target.addresses:
                try:
                    return self._get(http, target, address, url, headers)
                except httpx.ConnectError as exc:
                    failure = exc
            raise HarvestError(f"could not connect to {shown(url)}: {printable(str(failure))}")
        finally:
            if self.client is None:
                http.close()

    def _get(
        self, http: httpx.Client, target: OutboundTarget, address: str, url: str, headers: dict[str, str]
    ) -> Page:
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with http.stream(
                "GET",
                str(connectable_url(target, address)),
                headers=headers,
                timeout=self.policy.timeout_s,
                follow_redirects=False,
                extensions=extensions,
            ) as response:
                if response.status_code == 304:
                    return Page(url=url, not_modified=True)
                if response.status_code != 200:
                    raise HarvestError(
                        f"{shown(url)} answered {response.status_code} {response.reason_phrase}; expected 200"
                    )
                body = _read_limited(response, self.settings.max_page_bytes, url)
                validators = Validators(response.headers.get("etag"), response.headers.get("last-modified"))
                link = _LINK_NEXT.search(response.headers.get("link", ""))
        except httpx.ConnectError:
            raise
        except httpx.TimeoutException as exc:
            raise HarvestError(f"{shown(url)} did not answer within {self.policy.timeout_s:g} s") from exc
        except httpx.TransportError as exc:
            raise HarvestError(f"reading {shown(url)} failed: {type(exc).__name__}") from exc
        page = Page(url=url, validators=validators, link_next=urljoin(url, link.group(1)) if link else None)
        page.records = parse_records(body, self.definition, origin=shown(url))
        page.next_url = self._next(url, body, page)
        return page

    def _next(self, url: str, body: bytes, page: Page) -> str | None:
        paging = self.definition.source.paging
        assert page.records is not None
        if paging.style == "next_link":
            if paging.next is None:
                return page.link_next
            found = get_path(_json(body, url), paging.next)
            return urljoin(url, found) if isinstance(found, str) and found else None
        if paging.style == "offset":
            if len(page.records) < paging.page_size:
                return None
            params = dict(parse_qsl(urlsplit(url).query))
            offset = int(params.get(paging.offset_param, "0")) + paging.page_size
            return _with_params(url, {paging.offset_param: str(offset)})
        return None


def read_file(definition: ConnectorDefinition, settings: ConnectorSettings) -> list[dict[str, Any]]:
    """Every record of a file source."""
    assert definition.source.file is not None
    path = Path(definition.source.file)
    try:
        size = path.stat().st_size
        if size > settings.max_page_bytes:
            raise HarvestError(f"{path} is {size} bytes; connectors read at most {settings.max_page_bytes}")
        body = path.read_bytes()
    except OSError as exc:
        raise HarvestError(f"cannot read {path}: {exc.strerror}") from exc
    return parse_records(body, definition, origin=str(path))


def parse_records(body: bytes, definition: ConnectorDefinition, *, origin: str) -> list[dict[str, Any]]:
    """The records of one page or file in the definition's format (raises HarvestError if unreadable)."""
    fmt = definition.source.format
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarvestError(f"{origin} is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        return [{k: v for k, v in row.items() if k is not None and v not in (None, "")} for row in rows]
    if fmt == "jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise HarvestError(f"{origin} line {number}: invalid JSON: {exc.msg}") from exc
        return _objects(records, origin)
    data = _json(body, origin)
    found = get_path(data, definition.source.records) if definition.source.records else data
    if not isinstance(found, list):
        where = f"at {definition.source.records!r}" if definition.source.records else "at the top level"
        raise HarvestError(f"{origin} holds no list of records {where}; set source.records to its path")
    return _objects(found, origin)


def _objects(records: list[Any], origin: str) -> list[dict[str, Any]]:
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise HarvestError(f"{origin}: record {index} is a {type(record).__name__}, not an object")
    return records


def _json(body: bytes, origin: str) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarvestError(f"{origin} is not valid JSON: {exc}") from exc


def _read_limited(response: httpx.Response, limit: int, url: str) -> bytes:
    data = bytearray()
    for chunk in response.iter_raw():
        data += chunk
        if len(data) > limit:
            raise HarvestError(f"{shown(url)} sent more than {limit} bytes; connectors read at most that much")
    return bytes(data)


def _with_params(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))
