"""Web benchmark: the server time of the offers page (``GET /offers``) over a large catalogue.

The service runs in its own uvicorn process on 127.0.0.1 over a throwaway SQLite database of synthetic offers,
prepared exactly as ``pollinate bench api`` prepares its corpus (``evaluation/bench/corpus.py``: the offer texts
and their embeddings are synthesised, so that no offer has to be embedded by the model). One client then loads
the page, one request at a time, in two scenarios:

- ``browse``: no search text, newest first, with the filters a visitor would pick — none, one or several of
  target, region, kind of help, language and organisation type, sometimes page 2 to 5. Each request counts the
  listing, loads one page of offers and counts every facet (one GROUP BY per facet, the regions in one query).
- ``search``: a search text (a demo need's title, unique at every request, so the model embeds it), with or
  without a filter: the engine ranks the filtered offers, then the page loads the ranked ones and the facets.

Reported per scenario: the server's own time (``duration_ms`` of its access log, by request id: routing,
queries, ranking and rendering, not the loopback HTTP) as median, p95 and maximum, the client's median and p95,
and failed requests. Timings are measurements of one machine at one moment; tests only check the report's shape.
"""

from __future__ import annotations

import http.client
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from embeddings import Embedder
from evaluation.bench.corpus import prepare, reference_vectors
from evaluation.bench.server import read_server_log, server_env, serving, wait_ready
from evaluation.options import command_settings, emit_report
from matcher.data import DEMO_NEEDS
from matcher.engine.service import create_embedder
from matcher.records.bulk import iter_rows, validate_row
from matcher.records.interchange import NeedRecord
from matcher.settings import Settings
from models import vocabularies as vocab

__all__ = ["run_web_benchmark", "web_cmd"]

PAGE = "/offers"
SCENARIOS = ("browse", "search")
_REQUEST_TIMEOUT_S = 120.0

ProgressFn = Callable[[str], None]


def browse_queries(n: int, *, rng: random.Random, search: bool) -> list[dict[str, Any]]:
    """``n`` query strings' parameters as visitors would send them (with a unique search text if ``search``)."""
    titles = []
    for _number, row in iter_rows(DEMO_NEEDS, "jsonl"):
        assert isinstance(row, dict)
        record = validate_row("needs", row)
        assert isinstance(record, NeedRecord)
        titles.append(record.title)
    out = []
    for i in range(n):
        params: dict[str, Any] = {}
        shape = rng.random()
        if shape < 0.2 and not search:
            pass  # the page as it opens
        elif shape < 0.6:
            kind = rng.choice(["target", "region", "type", "language", "org_type"])
            params[kind] = _value(kind, rng)
        else:
            for kind in rng.sample(["target", "region", "type", "language", "org_type"], rng.randint(2, 4)):
                params[kind] = _value(kind, rng)
        if not search and rng.random() < 0.2:
            params["page"] = rng.randint(2, 5)
        if search:
            params["q"] = f"{rng.choice(titles)} ({i + 1})"
            if rng.random() < 0.4:
                params = {"q": params["q"]}
        out.append(params)
    return out


def _value(kind: str, rng: random.Random) -> Any:
    if kind == "target":
        return rng.choice(list(vocab.targets()))
    if kind == "region":
        return rng.choice([*vocab.regions(), *rng.sample(list(vocab.sub_regions()), 3)])
    if kind == "type":
        return rng.choice(vocab.ASSISTANCE_TYPES)
    if kind == "language":
        return rng.choice(["en", "fr", "es"])
    return rng.choice(vocab.ORGANISATION_TYPES)


def _get_all(port: int, queries: Sequence[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """GET the page once per query, one at a time; returns what the client saw per request id."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_REQUEST_TIMEOUT_S)
    seen = []
    try:
        for i, params in enumerate(queries):
            request_id = f"{prefix}-{i + 1}"
            started = time.perf_counter()
            try:
                connection.request(
                    "GET", f"{PAGE}?{urlencode(params, doseq=True)}", headers={"X-Request-ID": request_id}
                )
                response = connection.getresponse()
                body = response.read()
                status = response.status
                error = None if status == 200 and b'id="browse"' in body else body[:200].decode(errors="replace")
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                status, error = 0, f"{type(exc).__name__}: {exc}"
            seen.append(
                {"id": request_id, "status": status, "error": error, "ms": (time.perf_counter() - started) * 1e3}
            )
    finally:
        connection.close()
    return seen


def _percentile(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def run_web_benchmark(
    settings: Settings,
    embedder: Embedder,
    *,
    size: int = 10_000,
    n_requests: int = 200,
    warmup: int = 10,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Measure ``GET /offers`` on a served catalogue of ``size`` synthetic offers (see the module docstring).

    Returns:
        A JSON-serialisable report: ``size``, ``model_id``, ``n_requests``, ``warmup``, ``seed``,
        ``cpu_count``, ``load_average``, ``offers_indexed``, ``write_s``, ``server_start_s`` and ``results``,
        one entry per scenario with ``scenario``, ``requests``, ``ok``, ``errors``, ``error_samples``,
        ``server_median_ms``, ``server_p95_ms``, ``server_max_ms``, ``client_median_ms`` and
        ``client_p95_ms``; ``wall_s``.

    Raises:
        ValueError: a size or request count out of range.
        RuntimeError: the server did not start.
    """
    if size < 1 or n_requests < 1 or warmup < 0:
        raise ValueError(f"need size >= 1, requests >= 1, warmup >= 0; got {size}, {n_requests}, {warmup}")
    say = progress or (lambda _message: None)
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - reproducible queries, not a secret
    results = []
    with tempfile.TemporaryDirectory(prefix=f"pollinate-bench-web-{size}-") as tmp:
        data_dir = Path(tmp)
        reference = reference_vectors(embedder, say)
        say(f"{size:,} offers: writing the offers and filling the embedding cache")
        began = time.perf_counter()
        prepare(data_dir, size, embedder=embedder, reference=reference, seed=seed)
        write_s = time.perf_counter() - began
        say(f"{size:,} offers: starting the server")
        began = time.perf_counter()
        with serving(server_env(settings, data_dir), workers=1, log_path=data_dir / "server.log") as server:
            indexed = wait_ready(server, workers=1)
            start_s = time.perf_counter() - began
            if warmup:
                say(f"{warmup} warm-up requests per scenario")
                for scenario in SCENARIOS:
                    _get_all(server.port, browse_queries(warmup, rng=rng, search=scenario == "search"), "warm")
            for scenario in SCENARIOS:
                say(f"{scenario}: {n_requests} requests")
                offset = server.log_path.stat().st_size
                seen = _get_all(
                    server.port, browse_queries(n_requests, rng=rng, search=scenario == "search"), scenario
                )
                log = read_server_log(server.log_path, offset=offset)
                ok = [s for s in seen if s["error"] is None]
                server_ms = [
                    float(entry["duration_ms"])
                    for s in ok
                    for entry in log.entries.get(s["id"], [])
                    if entry.get("event") == "request" and entry.get("path") == PAGE
                ]
                client_ms = [s["ms"] for s in ok]
                failed = [s for s in seen if s["error"] is not None]
                results.append(
                    {
                        "scenario": scenario,
                        "requests": len(seen),
                        "ok": len(ok),
                        "errors": len(failed),
                        "error_samples": failed[:5],
                        "server_median_ms": _percentile(server_ms, 50),
                        "server_p95_ms": _percentile(server_ms, 95),
                        "server_max_ms": round(max(server_ms), 2) if server_ms else None,
                        "client_median_ms": _percentile(client_ms, 50),
                        "client_p95_ms": _percentile(client_ms, 95),
                    }
                )
    return {
        "size": size,
        "model_id": embedder.model_id,
        "n_requests": n_requests,
        "warmup": warmup,
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "offers_indexed": indexed,
        "write_s": round(write_s, 2),
        "server_start_s": round(start_s, 2),
        "results": results,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def _table(report: dict[str, Any]) -> Table:
    table = Table(
        title=f"GET {PAGE} over {report['size']:,} offers, one client, {report['n_requests']} requests a scenario",
        caption="server: the server's own duration (access log); browse: filters, no search text; search: a new "
        f"text embedded by {report['model_id']} and ranked by the engine\n"
        f"{report['cpu_count']} CPUs, load average {report['load_average']}, wall {report['wall_s']:.0f} s",
    )
    table.add_column("scenario")
    for column in ("ok", "errors", "server median ms", "server p95 ms", "server max ms", "client median ms"):
        table.add_column(column, justify="right")
    for row in report["results"]:
        table.add_row(
            row["scenario"],
            str(row["ok"]),
            str(row["errors"]),
            *(f"{row[k]:.1f}" if row[k] is not None else "" for k in ("server_median_ms", "server_p95_ms")),
            f"{row['server_max_ms']:.1f}" if row["server_max_ms"] is not None else "",
            f"{row['client_median_ms']:.1f}" if row["client_median_ms"] is not None else "",
        )
    return table


_err = Console(stderr=True)


def web_cmd(
    ctx: typer.Context,
    size: Annotated[int, typer.Option(min=1, help="Offers in the catalogue.")] = 10_000,
    requests: Annotated[int, typer.Option(min=1, help="Timed requests per scenario (browse, search).")] = 200,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed requests per scenario first.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the corpus and of the queries.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Server time (median, p95) of the offers page over a large catalogue, browsing and searching.

    A throwaway SQLite database of synthetic offers (as `bench api` makes them), the service in its own
    uvicorn process on 127.0.0.1, one client loading /offers with visitors' filters, then with search texts.
    The default run (10,000 offers) takes about two minutes on 2 cores. Exits with 1 when a request failed.
    """
    settings = command_settings(ctx)
    _err.print(f"[dim]loading the embedder {settings.embedding.model}[/dim]")
    embedder = create_embedder(settings)
    try:
        report = run_web_benchmark(
            settings,
            embedder,
            size=size,
            n_requests=requests,
            warmup=warmup,
            seed=seed,
            progress=lambda m: _err.print(f"[dim]{m}[/dim]"),
        )
    except RuntimeError as exc:
        _err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    emit_report(report, _table(report), as_json=as_json, out_file=out_file)
    if any(row["errors"] for row in report["results"]):
        raise typer.Exit(1)
