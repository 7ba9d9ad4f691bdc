"""The ``pollinate`` command line (typer).

Settings are built once in the callback from the environment (``POLLINATE_*``) and passed to every command
through the typer context.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from matcher.access import accounts
from matcher.cli.assist import assist_app, suggest_cmd
from matcher.cli.connectors import connectors_app
from matcher.cli.jobs import jobs_app
from matcher.engine.query import MatchFilters, NeedQuery
from matcher.engine.service import Match, MatchResult, MatchService, create_embedder, need_from_record
from matcher.engine.texts import detect_language
from matcher.errors import PollinateError, UnknownTermError
from matcher.records import seed as seed_module
from matcher.records.bulk import Format, ImportReport, Kind, describe_validation_error, export_records, import_file
from matcher.records.interchange import NeedRecord
from matcher.review.judgements import write_judgements
from matcher.settings import Settings
from models import migrate
from models import vocabularies as vocab
from models.repositories import OrganisationRepository, UserRepository

app = typer.Typer(
    name="pollinate",
    help="Pollinate: match biodiversity cooperation needs with the organisations that can help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
import_app = typer.Typer(help="Import needs or offers from JSONL or CSV (gold-set format).", no_args_is_help=True)
users_app = typer.Typer(help="Users and their API keys (keys are shown once).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(users_app, name="users")
app.add_typer(jobs_app, name="jobs")
app.add_typer(connectors_app, name="connectors")
app.add_typer(assist_app, name="assist")
app.command("suggest")(suggest_cmd)

err = Console(stderr=True)
out = Console()

# How many bad rows to print before summarising (the report file, if asked for, has them all).
_MAX_ERRORS_SHOWN = 200


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@app.callback()
def _main(ctx: typer.Context) -> None:
    """Configuration comes from POLLINATE_* environment variables; `pollinate settings` lists them."""
    try:
        ctx.obj = Settings()
    except ValidationError as exc:
        err.print(f"[red]invalid settings:[/red]\n{exc}")
        raise typer.Exit(2) from exc


@app.command("settings")
def settings_cmd(ctx: typer.Context) -> None:
    """Show every setting: environment variable, current value and meaning."""
    settings = _settings(ctx)
    table = Table("variable", "value", "meaning")
    current = settings.model_dump()
    for env, _default, description in Settings.table():
        path = env.removeprefix("POLLINATE_").lower().split("__")
        value: object = current
        for part in path:
            value = value[part] if isinstance(value, dict) else None
        if env == "POLLINATE_DATABASE__URL" and value is None:
            value = f"(default) {settings.database_url}"
        table.add_row(env, str(value), description)
    out.print(table)


# ------------------------------------------------------------------------------------------------ db


@db_app.command("upgrade")
def db_upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the database schema (safe to run repeatedly)."""
    settings = _settings(ctx)
    db = settings.open_database()
    try:
        migrate.upgrade(db, revision)
        out.print(f"database at revision {migrate.current_revision(db)} ({_redacted(settings)})")
    finally:
        db.dispose()


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the database's schema revision and this version's head."""
    db = _settings(ctx).open_database()
    try:
        out.print(f"current: {migrate.current_revision(db)}  head: {migrate.head_revision()}")
    finally:
        db.dispose()


# -------------------------------------------------------------------------------------------- import


def _run_import(ctx: typer.Context, kind: Kind, path: Path, skip_invalid: bool, fmt: Format | None) -> None:
    settings = _settings(ctx)
    db = settings.open_database()
    progress = Progress(
        TextColumn(f"importing {kind}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = progress.add_task(kind, start=False)

    def validated(report: ImportReport) -> None:
        if report.errors and not skip_invalid:
            return
        progress.update(task, total=report.valid)
        progress.start_task(task)
        progress.start()

    try:
        migrate.upgrade(db)
        with progress:
            report = import_file(
                db,
                path,
                kind,
                fmt=fmt,
                skip_invalid=skip_invalid,
                on_validated=validated,
                on_progress=lambda n: progress.advance(task, n),
            )
    except PollinateError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()

    for row_error in report.errors[:_MAX_ERRORS_SHOWN]:
        err.print(f"[yellow]{path.name}:{row_error.line}[/yellow] {row_error.message}", highlight=False)
    if len(report.errors) > _MAX_ERRORS_SHOWN:
        err.print(f"... and {len(report.errors) - _MAX_ERRORS_SHOWN} more bad rows")
    if not report.written:
        err.print(
            f"[red]{len(report.errors)} of {report.rows} rows are invalid; nothing was imported.[/red] "
            "Fix them, or pass --skip-invalid to import the valid rows."
        )
        raise typer.Exit(1)
    skipped = f", {len(report.errors)} invalid rows skipped" if report.errors else ""
    out.print(f"{kind}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged{skipped}")


FileArg = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .jsonl or .csv file.")
]
SkipInvalid = Annotated[
    bool, typer.Option("--skip-invalid", help="Import the valid rows even if some rows are bad.")
]
FormatOpt = Annotated[str | None, typer.Option("--format", help="jsonl or csv (default: from the file suffix).")]


def _format(value: str | None) -> Format | None:
    if value is None:
        return None
    if value not in ("jsonl", "csv"):
        raise typer.BadParameter(f"unknown format {value!r}; use jsonl or csv", param_hint="--format")
    return "jsonl" if value == "jsonl" else "csv"


@import_app.command("offers")
def import_offers(
    ctx: typer.Context, file: FileArg, skip_invalid: SkipInvalid = False, fmt: FormatOpt = None
) -> None:
    """Import offers; every row is validated first and nothing is written if any is bad."""
    _run_import(ctx, "offers", file, skip_invalid, _format(fmt))


@import_app.command("needs")
def import_needs(
    ctx: typer.Context, file: FileArg, skip_invalid: SkipInvalid = False, fmt: FormatOpt = None
) -> None:
    """Import needs; every row is validated first and nothing is written if any is bad."""
    _run_import(ctx, "needs", file, skip_invalid, _format(fmt))


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="needs, offers or judgements")],
    out_path: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to write (default: stdout); for judgements, a directory."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv (needs and offers)")] = "jsonl",
) -> None:
    """Export every need or offer in the gold-set format (re-importable), or the secretariat's review
    decisions as a gold set (needs.jsonl, offers.jsonl, qrels.tsv) that `pollinate evaluate` reads."""
    if kind == "judgements":
        _export_judgements(ctx, out_path)
        return
    if kind not in ("needs", "offers"):
        raise typer.BadParameter(f"unknown kind {kind!r}; use needs, offers or judgements", param_hint="KIND")
    chosen = _format(fmt) or "jsonl"
    db = _settings(ctx).open_database()
    try:
        if out_path is None:
            count = export_records(db, "needs" if kind == "needs" else "offers", sys.stdout, fmt=chosen)
        else:
            with out_path.open("w", encoding="utf-8", newline="") as handle:
                count = export_records(db, "needs" if kind == "needs" else "offers", handle, fmt=chosen)
    finally:
        db.dispose()
    err.print(f"exported {count} {kind}")


def _export_judgements(ctx: typer.Context, directory: Path | None) -> None:
    if directory is None:
        raise typer.BadParameter("say where to write the gold set: --out DIR", param_hint="--out")
    if directory.exists() and not directory.is_dir():
        raise typer.BadParameter(f"{directory} is a file; give a directory", param_hint="--out")
    db = _settings(ctx).open_database()
    try:
        with db.transaction(read_only=True) as session:
            summary = write_judgements(session, directory)
    except PollinateError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    err.print(
        f"exported {summary.positive} accepted and {summary.negative} rejected pairs "
        f"({summary.needs} needs, {summary.offers} offers) to {directory}"
    )


# ------------------------------------------------------------------------------------------ seed/serve


@app.command("seed")
def seed_cmd(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Load the bundled demo corpus.")] = False,
) -> None:
    """Load the bundled demo corpus into the configured database (idempotent)."""
    if not demo:
        raise typer.BadParameter("nothing to seed; pass --demo to load the bundled demo corpus")
    db = _settings(ctx).open_database()
    try:
        migrate.upgrade(db)
        reports = seed_module.seed_demo(db)
    finally:
        db.dispose()
    for report in reports:
        out.print(
            f"demo {report.kind}: {report.created} created, {report.updated} updated, {report.unchanged} unchanged"
        )


@app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo corpus first.")] = False,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: POLLINATE_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: POLLINATE_API__PORT).")] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema before serving.")
    ] = True,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads the model and its own index).")
    ] = 1,
) -> None:
    """Start the HTTP service (uvicorn)."""
    settings = _settings(ctx)
    db = settings.open_database()
    try:
        if migrate_first or demo:
            migrate.upgrade(db)
        if demo:
            for report in seed_module.seed_demo(db):
                out.print(f"demo {report.kind}: {report.created} created, {report.unchanged} unchanged")
            out.print("demo API keys (new at every start; the previous ones are revoked):")
            keys = seed_module.demo_keys(db)
            for key in keys:
                typer.echo(f"  export {key.role.upper()}_KEY={key.secret}   # {key.role}: {key.acts_for}")
            out.print("demo sign-ins (e-mail, password; new at every start, the previous ones stop working):")
            for sign_in in seed_module.demo_sign_ins(db, keys):
                typer.echo(f"  {sign_in.email}  {sign_in.password}   # {sign_in.role}: {sign_in.acts_for}")
    finally:
        db.dispose()
    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    out.print(f"serving on http://{bind_host}:{bind_port} (database: {_redacted(settings)})")
    # Replace this process with uvicorn, started afresh so that OMP_NUM_THREADS=1 is in force before NumPy,
    # FAISS and torch load their thread pools (on 2 cores, two OpenMP threads made single queries 2-3x
    # slower; a server takes its parallelism from concurrent requests). The app factory rebuilds the same
    # Settings from the same environment.
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("POLLINATE_DATA_DIR", str(settings.data_dir))
    args = uvicorn_command(settings, host=bind_host, port=bind_port, workers=workers)
    os.execve(sys.executable, args, env)  # noqa: S606


def uvicorn_command(settings: Settings, *, host: str, port: int, workers: int) -> list[str]:
    """The uvicorn command line ``pollinate serve`` runs.

    Proxy headers are read only from ``api.trusted_proxies``: uvicorn's default believes ``X-Forwarded-For``
    from 127.0.0.1, so any process on the host (or a proxy passing the header through unfiltered) could name a
    new client address per request and never exhaust the anonymous rate limit. Explicit options also keep
    uvicorn's ``FORWARDED_ALLOW_IPS`` environment variable out of it.
    """
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app_from_env"]
    command += ["--host", host, "--port", str(port), "--workers", str(workers)]
    proxies = settings.api.trusted_proxies
    if not proxies:
        return [*command, "--no-proxy-headers"]
    return [*command, "--proxy-headers", "--forwarded-allow-ips", ",".join(str(p) for p in proxies)]


@app.command("worker")
def worker_cmd(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then exit.")] = False,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Deliveries sent concurrently.")] = 4,
) -> None:
    """Deliver provider alerts from the outbox (webhooks, e-mail digests), retry failures, keep house.

    Runs until SIGTERM or Ctrl-C. Run one or more next to the API; they share the work through the database.
    """
    from matcher.cli.worker import DeliveryWorker, configure_logging

    settings = _settings(ctx)
    db = settings.open_database()
    try:
        if not migrate.is_current(db):
            raise typer.BadParameter("the database schema is not current: run `pollinate db upgrade` first")
        configure_logging()
        worker = DeliveryWorker(db, settings, threads=threads)
        if once:
            claimed = worker.drain()
            out.print(f"{claimed} deliveries claimed, {worker.sent} delivered")
            return
        n = settings.notifications
        out.print(
            f"worker: database {_redacted(settings)}; polling every {n.poll_s:g} s, "
            f"{n.max_attempts} attempts per delivery (Ctrl-C to stop)"
        )
        worker.run()
    finally:
        db.dispose()


# ---------------------------------------------------------------------------------------------- users


def _organisation_id(session: Session, value: str) -> int:
    if value.isdigit():
        return int(value)
    found = OrganisationRepository(session).by_name(value)
    if len(found) != 1:
        where = "no organisation" if not found else f"{len(found)} organisations"
        raise typer.BadParameter(f"{where} named {value!r}; give its id instead", param_hint="--organisation")
    return found[0].id


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Unique name of the user (a person or a system).")],
    role: Annotated[str, typer.Option(help="party, provider, secretariat or admin.")],
    country: Annotated[str | None, typer.Option(help="The country a party acts for (ISO3).")] = None,
    organisation: Annotated[
        str | None, typer.Option(help="The organisation a provider acts for (id or exact name).")
    ] = None,
    label: Annotated[str | None, typer.Option(help="A note on the key (where it is used).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the key.")] = False,
) -> None:
    """Create a user and print a new API key for it, once (only a hash is stored)."""
    db = _settings(ctx).open_database()
    try:
        migrate.upgrade(db)
        with db.transaction() as session:
            org_id = _organisation_id(session, organisation) if organisation else None
            user = accounts.create_user(session, name=name, role=role, country=country, organisation_id=org_id)
            issued = accounts.issue_key(session, user, label=label)
            summary = f"user {user.id} {user.name!r} ({user.role}{', ' + user.country if user.country else ''}"
            summary += f", organisation {org_id})" if org_id else ")"
    except PollinateError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    _print_key(issued, summary, quiet)


def _print_key(issued: accounts.IssuedKey, summary: str, quiet: bool) -> None:
    if quiet:
        typer.echo(issued.secret)
        return
    out.print(f"{summary}; key id {issued.key_id}")
    out.print("API key (shown once, store it now):")
    typer.echo(issued.secret)


@users_app.command("add-key")
def users_add_key(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's name.")],
    label: Annotated[str | None, typer.Option(help="A note on the key.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the key.")] = False,
) -> None:
    """Issue another API key for a user (e.g. to rotate keys: add, switch, then revoke the old one)."""
    db = _settings(ctx).open_database()
    try:
        with db.transaction() as session:
            user = UserRepository(session).by_name(name)
            if user is None:
                raise typer.BadParameter(f"no user named {name!r}", param_hint="NAME")
            issued = accounts.issue_key(session, user, label=label)
            summary = f"user {user.id} {user.name!r}"
    finally:
        db.dispose()
    _print_key(issued, summary, quiet)


@users_app.command("revoke")
def users_revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key id (the part after pk_).")]
) -> None:
    """Revoke an API key: every worker refuses it from its next request."""
    db = _settings(ctx).open_database()
    try:
        with db.transaction() as session:
            key = accounts.revoke_key(session, key_id)
            out.print(f"key {key.key_id} of user {key.user.name!r} revoked at {key.revoked_at:%Y-%m-%d %H:%M} UTC")
    except PollinateError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """Every user with its role, scope and keys (ids only)."""
    db = _settings(ctx).open_database()
    try:
        with db.transaction(read_only=True) as session:
            repo = UserRepository(session)
            table = Table("id", "name", "role", "acts for", "active keys", "revoked keys")
            for user in repo.all():
                keys = repo.keys(user.id)
                scope = user.country or (f"organisation {user.organisation_id}" if user.organisation_id else "all")
                table.add_row(
                    str(user.id),
                    user.name,
                    user.role,
                    scope,
                    ", ".join(k.key_id for k in keys if k.revoked_at is None),
                    ", ".join(k.key_id for k in keys if k.revoked_at is not None),
                )
    finally:
        db.dispose()
    out.print(table)


# ---------------------------------------------------------------------------------------------- match


def _need_from_file(ctx: typer.Context, source: str) -> NeedQuery:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        record = NeedRecord.model_validate_json(text.strip())
    except ValidationError as exc:
        raise typer.BadParameter(describe_validation_error(exc), param_hint="--need") from exc
    db = _settings(ctx).open_database()
    try:
        with db.transaction(read_only=True) as session:
            org = OrganisationRepository(session).find(record.requesting_organisation, record.party)
            org_id = org.id if org else None
    finally:
        db.dispose()
    return need_from_record(record, organisation_id=org_id)


def _vocab_list(values: list[str], parse: Callable[[str], str], hint: str) -> frozenset[str]:
    try:
        return frozenset(parse(v) for v in values)
    except UnknownTermError as exc:
        raise typer.BadParameter(str(exc), param_hint=hint) from exc


@app.command("match")
def match_cmd(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(help="The need, in free text.")] = None,
    need_file: Annotated[
        str | None, typer.Option("--need", help="A need as one JSON object in the gold-set format (- for stdin).")
    ] = None,
    target: Annotated[list[int], typer.Option("--target", help="KMGBF target of the need (repeatable).")] = [],  # noqa: B006
    country: Annotated[
        str | None, typer.Option("--country", help="The need's country (ISO 3166 alpha-3).")
    ] = None,
    assistance: Annotated[list[str], typer.Option("--type", help="Assistance type wanted (repeatable).")] = [],  # noqa: B006
    language: Annotated[str | None, typer.Option("--language", help="Language of the need (ISO 639-1).")] = None,
    only_target: Annotated[list[int], typer.Option("--only-target", help="Filter: offers on this target.")] = [],  # noqa: B006
    only_region: Annotated[
        list[str], typer.Option("--only-region", help="Filter: offers serving this region or country.")
    ] = [],  # noqa: B006
    only_type: Annotated[list[str], typer.Option("--only-type", help="Filter: offers of this type.")] = [],  # noqa: B006
    only_language: Annotated[
        list[str], typer.Option("--only-language", help="Filter: providers working in this language.")
    ] = [],  # noqa: B006
    only_cost: Annotated[list[str], typer.Option("--only-cost", help="Filter: free, cost or negotiable.")] = [],  # noqa: B006
    only_org_type: Annotated[list[str], typer.Option("--only-org-type", help="Filter: organisation type.")] = [],  # noqa: B006
    k: Annotated[int, typer.Option("-k", min=1, max=200, help="How many providers.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Rank providers for a need given as text (with its fields as options) or as a JSON file."""
    if (text is None) == (need_file is None):
        raise typer.BadParameter("give either TEXT or --need FILE", param_hint="TEXT")
    if need_file is not None:
        need = _need_from_file(ctx, need_file)
    else:
        assert text is not None
        try:
            need = NeedQuery(
                title="",
                description=text,
                targets=tuple(vocab.parse_target(t) for t in target),
                assistance_types=tuple(vocab.parse_assistance_type(t) for t in assistance),
                language=vocab.parse_language(language) if language else detect_language(text),
                party=vocab.parse_country(country) if country else None,
            )
        except UnknownTermError as exc:
            raise typer.BadParameter(str(exc)) from exc
    filters = MatchFilters(
        targets=frozenset(vocab.parse_target(t) for t in only_target),
        serves=_vocab_list(only_region, vocab.parse_place, "--only-region"),
        assistance_types=_vocab_list(only_type, vocab.parse_assistance_type, "--only-type"),
        languages=_vocab_list(only_language, vocab.parse_language, "--only-language"),
        costs=_vocab_list(only_cost, vocab.parse_cost, "--only-cost"),
        org_types=_vocab_list(only_org_type, vocab.parse_organisation_type, "--only-org-type"),
    )
    settings = _settings(ctx)
    db = settings.open_database()
    try:
        migrate.upgrade(db)
        with err.status("loading the model and the index..."):
            service = MatchService.from_settings(settings, db, create_embedder(settings))
            service.start()
        result = service.match(need, k=k, filters=filters)
        service.close()
    finally:
        db.dispose()
    if as_json:
        print(json.dumps([match_json(m) for m in result.matches], ensure_ascii=False, indent=2))
    else:
        _print_matches(result)
    if not result.matches:
        err.print(f"[yellow]no providers:[/yellow] {result.empty_reason or 'nothing qualifies'}")


def match_json(match: Match) -> dict[str, object]:
    """The JSON shape of one match (``offer_id`` is the external id when there is one)."""
    return {
        "offer_id": match.external_id or str(match.offer_id),
        "organisation": match.organisation,
        "title": match.title,
        "score": round(match.score, 6),
        "components": {name: round(value, 6) for name, value in match.components.items()},
        "probability": match.probability,
        "verdict": match.verdict,
        "weak_topical_fit": match.weak_topical_fit,
        "explanation": match.explanation.text(),
        "reasons": list(match.explanation.reasons),
        "evidence": list(match.explanation.evidence),
    }


def _print_matches(result: MatchResult) -> None:
    table = Table("#", "offer", "provider", "score / fit", "components", "why", show_lines=True)
    for rank, m in enumerate(result.matches, start=1):
        parts = "\n".join(f"{n} {v:+.3f}" for n, v in m.components.items() if abs(v) > 1e-9)
        warning = ["weak topical fit: targets and region fit, the texts do not"] if m.weak_topical_fit else []
        why = "\n".join([*warning, *m.explanation.reasons, *(f"“{e}”" for e in m.explanation.evidence)])
        offer = m.external_id or str(m.offer_id)
        score = f"{m.score:.3f}\n{m.verdict} ({m.probability:.0%})"
        table.add_row(str(rank), offer, f"{m.organisation}\n{m.title}", score, parts, why)
    out.print(table)
    if result.excluded:
        out.print("excluded: " + ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in result.excluded.items()))


def _redacted(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def _load_plugins() -> None:
    """Sub-commands from packages above the engine (``pollinate bench``, ``pollinate evaluate``), via entry
    points: a Typer app becomes a command group, a function a single command."""
    for entry in entry_points(group="pollinate.commands"):
        loaded = entry.load()
        if isinstance(loaded, typer.Typer):
            app.add_typer(loaded, name=entry.name)
        else:
            app.command(entry.name)(loaded)


_load_plugins()


def main() -> None:
    """Console-script entry point."""
    app()
