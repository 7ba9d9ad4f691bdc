"""Assistant benchmark: how long ``AssistService.assist_need`` takes while a Party types, at 10,000 needs.

One throwaway SQLite database holds ``--needs`` synthetic needs (texts of the synthetic offer corpus written as
needs, Parties drawn at random among every country) whose embeddings are put in the cache beforehand as seeded
random unit vectors: the duplicate search is an exact scan of the Party's sub-region, whose cost does not
depend on what the vectors mean, and embedding 10,000 texts with the model would take most of an hour.

Then one :class:`~matcher.assist.service.AssistService` with the configured embedding model: setup (fitting
the suggestion models on the bundled examples) and the first call (which reads the candidate needs' vectors
into memory) are reported apart; then ``--calls`` calls with different drafts (the demo needs' texts, each
sent as a Party of a random country), each of which embeds the draft with the model, runs the two
regressions, the gazetteer and the rules, lists the needs of the Party's sub-region it may see and scans them.
Reported: the median (p50), 90th and 95th percentiles and maximum per call, the candidate needs per call, and
the load average; the fit and the first call are never among the timed calls.

The assistant is given a store over the configured embedder, every encoder side by side (MiniLM and USE-m3 by
default), as ``api.app`` gives it: its models are fitted on, and saved for, that combined model id.

The figures are measurements of one machine at one moment; tests only ever assert the shape of the report.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from embeddings import l2_normalise
from evaluation.bench.corpus import synthetic_offers
from evaluation.options import command_settings, emit_report, progress
from matcher.access.rules import Principal
from matcher.assist.examples import draft_text
from matcher.assist.service import AssistService, Draft, forget_bundled_fits
from matcher.data import DEMO_NEEDS
from matcher.engine.service import create_embedder
from matcher.engine.store import EmbeddingStore, text_hash
from matcher.settings import Settings
from models import migrate
from models import vocabularies as vocab
from models.db import Database, sqlite_url
from models.orm import Need, Organisation
from models.repositories import EmbeddingRepository


def _write_needs(db: Database, n: int, *, model_id: str, dim: int, seed: int) -> dict[str, int]:
    """``n`` needs from random Parties with cached embeddings; returns needs per sub-region."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    vectors = l2_normalise(np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32))
    parties = sorted(c for c, country in vocab.countries().items() if country.sub_region != "Antarctica")
    per_region: dict[str, int] = {}
    with db.transaction() as session:
        orgs: dict[str, int] = {}
        for party in parties:
            org = Organisation(name=f"Government of {party}", org_type="government_agency", country=party)
            session.add(org)
            session.flush()
            orgs[party] = org.id
        items = []
        for i, offer in enumerate(synthetic_offers(n, seed=seed)):
            party = rng.choice(parties)
            record = offer.record
            need = Need(
                organisation_id=orgs[party],
                party=party,
                title=record.title,
                description=record.description,
                language=offer.language,
                visibility="public",
            )
            need.targets = sorted(record.targets)
            need.assistance_types = sorted(record.assistance_types)
            session.add(need)
            region = vocab.countries()[party].sub_region
            per_region[region] = per_region.get(region, 0) + 1
            items.append(
                (text_hash(draft_text(record.title, record.description)), vectors[i].astype("<f4").tobytes(), "en")
            )
            if len(items) == 2000:
                session.flush()
                EmbeddingRepository(session).put_many(model_id, dim, items)
                items = []
        session.flush()
        EmbeddingRepository(session).put_many(model_id, dim, items)
    return per_region


def run_assist_benchmark(settings: Settings, *, n_needs: int, calls: int, seed: int) -> dict[str, Any]:
    """The report of ``pollinate bench assist`` (see the module docstring)."""
    # The service gives the assistant a store over every encoder (``api.app``): time that.
    embedder = create_embedder(settings)
    with tempfile.TemporaryDirectory(prefix="pollinate-bench-assist-") as tmp:
        db = Database(sqlite_url(Path(tmp) / "bench.db"))
        try:
            migrate.upgrade(db)
            progress(f"writing {n_needs} needs and their cached embeddings...")
            started = time.perf_counter()
            per_region = _write_needs(db, n_needs, model_id=embedder.model_id, dim=embedder.dim, seed=seed)
            write_s = time.perf_counter() - started
            service = AssistService(EmbeddingStore(db, embedder))
            progress("fitting the suggestion models on the bundled examples...")
            forget_bundled_fits()  # the process may hold a fit already (the tests; a second run in one process)
            started = time.perf_counter()
            service.suggester()
            fit_s = time.perf_counter() - started
            drafts = [json.loads(line) for line in DEMO_NEEDS.read_text(encoding="utf-8").splitlines() if line]
            rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
            parties = sorted(vocab.countries())
            staff = Principal(role="secretariat")

            def one(row: dict[str, Any]) -> tuple[float, int]:
                party = rng.choice(parties)
                draft = Draft(title=row["title"], description=row["description"], party=party)
                begin = time.perf_counter()
                with db.transaction(read_only=True) as session:
                    service.assist_need(session, staff, draft)
                elapsed = time.perf_counter() - begin
                region = vocab.countries()[party].sub_region
                return elapsed, per_region.get(region, 0)

            progress("first call (reads the vectors of the candidate needs)...")
            first_s, _ = one(drafts[0])
            # Warm every sub-region's vectors, so that the timed calls are the steady state of a running server.
            with db.transaction(read_only=True) as session:
                for region in sorted(per_region):
                    party = next(c for c, x in vocab.countries().items() if x.sub_region == region)
                    service.assist_need(session, staff, Draft(title="warm", description="warming up", party=party))
            progress(f"{calls} timed calls...")
            timings, candidates = [], []
            for i in range(calls):
                elapsed, count = one(drafts[i % len(drafts)])
                timings.append(elapsed * 1000)
                candidates.append(count)
        finally:
            db.dispose()
    p50, p90, p95 = (round(float(v), 1) for v in np.percentile(timings, [50, 90, 95]))
    return {
        "needs": n_needs,
        "calls": calls,
        "model": embedder.model_id,
        "write_needs_s": round(write_s, 2),
        "fit_s": round(fit_s, 2),
        "first_call_ms": round(first_s * 1000, 1),
        "p50_ms": p50,
        "p90_ms": p90,
        "p95_ms": p95,
        "max_ms": round(max(timings), 1),
        "median_candidates": int(statistics.median(candidates)),
        "max_candidates": max(candidates),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _table(report: dict[str, Any]) -> Table:
    table = Table("figure", "value", title=f"assist_need at {report['needs']} needs ({report['model']})")
    for key, value in report.items():
        table.add_row(key, str(value))
    return table


def assist_cmd(
    ctx: typer.Context,
    needs: int = typer.Option(10_000, min=1, help="Needs in the catalogue."),
    calls: int = typer.Option(50, min=1, max=10_000, help="Timed calls."),
    seed: int = typer.Option(0, help="Seed of the synthetic needs, their vectors and the Parties drafting."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    out_file: Path | None = typer.Option(None, "--out", help="Also write the JSON report to this file."),
) -> None:
    """Median time of the assistant's call (suggestions, missing information, duplicates) at --needs needs.

    Needs' embeddings are put in the cache (random unit vectors); each call embeds its draft with the model.
    """
    report = run_assist_benchmark(command_settings(ctx), n_needs=needs, calls=calls, seed=seed)
    emit_report(report, _table(report), as_json=as_json, out_file=out_file)
