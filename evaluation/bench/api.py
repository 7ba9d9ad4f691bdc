"""API benchmark: latency and throughput of ``POST /v1/match`` over loopback, embedding included.

For each corpus size the benchmark builds a throwaway SQLite data directory holding that many synthetic offers,
starts the real service in its own uvicorn process on 127.0.0.1 (``OMP_NUM_THREADS=1``, as ``pollinate serve``
does; the module path is given as a string, so nothing here imports the web layer) and has concurrent clients
post ad-hoc matching requests: the figures are what a caller on the same machine sees — request parsing and
authentication, embedding the need with the configured model, filtering, retrieval, exact re-scoring,
feedback, explanations and serialisation, plus loopback HTTP. The clients share the machine's cores with the
server, as they would in any single-host measurement.

Synthetic corpus
    Descriptions are assembled from a pool of 840 sentences — 28 templates in English, French and Spanish,
    each about one of thirty biodiversity-cooperation topics (:func:`pool_sentences`) — and titles from an
    activity, a topic and a country; targets follow the topics; assistance types, languages, costs,
    organisations and the areas served vary. Titles are unique.

Embeddings
    Embedding 100,000 offers with the packaged model would take about 40 minutes on 2 cores, so the embedding
    cache is filled before the server starts, under the configured embedder's model id. The pool sentences —
    the evidence the explanations quote — and the demo texts the service fits its language centring on are
    embedded for real; each offer's vector is the mean of its sentences' vectors plus seeded Gaussian noise of
    half the mean's norm, normalised. That noise was calibrated on the 160 demo offers embedded by the model:
    mean cosine between two offers 0.31 (synthetic 0.31), between two offers sharing a target 0.38 (0.37).
    The structure matters for speed, not only for quality: the ranker deepens its vector search until the
    top-k is certified, and with random unit vectors instead it scanned 76,000 of 100,000 offers per query on
    average (8,250 with these vectors; in-process median 225 ms instead of 124 ms). The synthetic corpus is
    still harder than a real one in that respect — thirty topics, some 3,300 near-duplicate offers each at
    100k, none really about the need — so its figures are more likely pessimistic than flattering. Rankings of
    a synthetic corpus mean nothing; the figures are about speed.

    Every request's text is unique (a demo need and a request number), so the service embeds it with the model
    in every request, as it would a new need.

What is reported
    Per size and number of concurrent clients (closed loop: each client sends its next request when the
    previous one has been answered): median, p90, p99, mean and maximum client-side latency, requests per
    second over the wall time, the server's own durations (from its access log, by request id), and every
    failed request with the server's log entries for it and the tracebacks it logged. Per size: the time to
    write the offers and fill the cache, the server's start time (until ``GET /ready`` answers 200: model load
    and index build from the cache) and the offers it indexed. The clients are threads of the bench process
    using the standard library's ``http.client`` (httpx is only a development dependency), one keep-alive
    connection each.

Cost
    The default run (10k and 100k offers, 1 and 4 clients, 200 requests each) took just under 5 minutes on
    this 2-core machine, half of it writing 100,000 offers through the ORM (about 140 s); the server was ready
    14 s after it started at 100k.

The figures are measurements of one machine at one moment; tests only ever assert the shape of the report.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from embeddings import Embedder, l2_normalise
from evaluation.bench.embed import demo_texts
from evaluation.options import command_settings, emit_report, number_list, progress
from matcher.access import accounts
from matcher.data import DEMO_NEEDS
from matcher.engine.service import create_embedder
from matcher.engine.store import text_hash
from matcher.engine.texts import detect_language, record_text
from matcher.records.bulk import ImportReport, RecordWriter, iter_rows, validate_row
from matcher.records.interchange import NeedRecord, OfferRecord
from matcher.settings import Settings
from models import migrate
from models import vocabularies as vocab
from models.db import Database, sqlite_url
from models.repositories import EmbeddingRepository

__all__ = [
    "SyntheticOffer",
    "api_cmd",
    "offer_like_vectors",
    "pool_sentences",
    "run_api_benchmark",
    "synthetic_offers",
]

# The service's uvicorn factory, by module path: evaluation must not import the web layer.
APP_FACTORY = "api.app:create_app_from_env"
MATCH_PATH = "/v1/match"
# Rate limits of the benchmarked server (per key and worker): high enough never to answer 429.
_UNLIMITED_RATE = "1000000/minute"
# Offers written, and cache entries computed, per transaction.
_WRITE_CHUNK = 2_000
# Norm of the noise added to an offer's mean sentence vector, relative to that mean's norm.
_OFFER_NOISE = 0.5
# How long a server may take to answer GET /ready (100k offers: 14 s measured, model load and index build).
_START_TIMEOUT_S = 900.0
# How long a request may take before it counts as failed.
_REQUEST_TIMEOUT_S = 120.0
# How long the server has to stop after SIGTERM before it is killed.
_STOP_TIMEOUT_S = 30.0
# Failed requests kept in the report (all are counted).
_ERROR_SAMPLES = 5

ProgressFn = Callable[[str], None]
# A cache entry: (text hash, little-endian float32 vector bytes, language).
_Cached = tuple[str, bytes, str]


# ------------------------------------------------------------------------------------------ the corpus


@dataclass(frozen=True, slots=True)
class _Topic:
    """A cooperation topic: the KMGBF targets it serves and its noun phrase in each corpus language."""

    targets: tuple[int, ...]
    en: str
    fr: str
    es: str

    def phrase(self, language: str) -> str:
        return {"en": self.en, "fr": self.fr, "es": self.es}[language]


# The topics: KMGBF targets and English noun phrase; the French and Spanish phrases follow in the same order.
_TOPICS_EN = (
    ((2, 8, 11), "mangrove restoration"),
    ((6,), "the control of invasive alien species"),
    ((3, 21), "coral reef monitoring"),
    ((3,), "protected area management"),
    ((1,), "spatial planning for biodiversity"),
    ((5,), "wildlife trade enforcement"),
    ((5, 10), "sustainable small-scale fisheries"),
    ((7, 10), "pollinator-friendly agriculture"),
    ((7,), "pesticide risk reduction"),
    ((12,), "urban green spaces"),
    ((13,), "access and benefit-sharing for genetic resources"),
    ((19,), "biodiversity finance"),
    ((4,), "recovery planning for threatened species"),
    ((4, 13), "seed banks for crop wild relatives"),
    ((8, 11), "ecosystem-based adaptation to climate change"),
    ((21,), "the mobilisation of biodiversity data"),
    ((22,), "the traditional knowledge of indigenous peoples"),
    ((21, 4), "environmental DNA surveys"),
    ((2, 11), "wetland restoration"),
    ((2, 8), "forest landscape restoration"),
    ((7,), "plastic pollution in rivers and coasts"),
    ((9,), "sustainable tourism in protected areas"),
    ((15,), "corporate biodiversity disclosure"),
    ((16,), "sustainable consumption and food waste"),
    ((17,), "the biosafety of living modified organisms"),
    ((18,), "the reform of harmful subsidies"),
    ((14,), "national biodiversity strategies and action plans"),
    ((23,), "gender-responsive conservation"),
    ((9, 22), "community-based wildlife management"),
    ((1, 3), "ecological corridors for large mammals"),
)
_TOPICS_FR = (
    "la restauration des mangroves",
    "la lutte contre les espèces exotiques envahissantes",
    "le suivi des récifs coralliens",
    "la gestion des aires protégées",
    "la planification spatiale de la biodiversité",
    "le contrôle du commerce d'espèces sauvages",
    "la pêche artisanale durable",
    "l'agriculture favorable aux pollinisateurs",
    "la réduction des risques liés aux pesticides",
    "les espaces verts urbains",
    "l'accès aux ressources génétiques et le partage des avantages",
    "le financement de la biodiversité",
    "les plans de rétablissement des espèces menacées",
    "les banques de semences d'espèces sauvages apparentées",
    "l'adaptation au changement climatique fondée sur les écosystèmes",
    "la mobilisation des données sur la biodiversité",
    "les savoirs traditionnels des peuples autochtones",
    "les inventaires par ADN environnemental",
    "la restauration des zones humides",
    "la restauration des paysages forestiers",
    "la pollution plastique des rivières et des côtes",
    "le tourisme durable dans les aires protégées",
    "la publication d'informations des entreprises sur la biodiversité",
    "la consommation durable et le gaspillage alimentaire",
    "la biosécurité des organismes vivants modifiés",
    "la réforme des subventions néfastes",
    "les stratégies et plans d'action nationaux pour la biodiversité",
    "la conservation sensible au genre",
    "la gestion communautaire de la faune",
    "les corridors écologiques pour les grands mammifères",
)
_TOPICS_ES = (
    "la restauración de manglares",
    "el control de especies exóticas invasoras",
    "el monitoreo de arrecifes de coral",
    "la gestión de áreas protegidas",
    "la planificación espacial de la biodiversidad",
    "el control del comercio de vida silvestre",
    "la pesca artesanal sostenible",
    "la agricultura favorable a los polinizadores",
    "la reducción del riesgo de plaguicidas",
    "los espacios verdes urbanos",
    "el acceso a los recursos genéticos y la participación en los beneficios",
    "la financiación de la biodiversidad",
    "los planes de recuperación de especies amenazadas",
    "los bancos de semillas de parientes silvestres de cultivos",
    "la adaptación al cambio climático basada en ecosistemas",
    "la movilización de datos sobre biodiversidad",
    "los conocimientos tradicionales de los pueblos indígenas",
    "los inventarios con ADN ambiental",
    "la restauración de humedales",
    "la restauración de paisajes forestales",
    "la contaminación por plásticos en ríos y costas",
    "el turismo sostenible en áreas protegidas",
    "la divulgación empresarial sobre biodiversidad",
    "el consumo sostenible y el desperdicio de alimentos",
    "la bioseguridad de los organismos vivos modificados",
    "la reforma de los subsidios perjudiciales",
    "las estrategias y planes de acción nacionales en materia de biodiversidad",
    "la conservación con perspectiva de género",
    "el manejo comunitario de la fauna silvestre",
    "los corredores ecológicos para grandes mamíferos",
)
_TOPICS = tuple(
    _Topic(targets, en, fr, es) for (targets, en), fr, es in zip(_TOPICS_EN, _TOPICS_FR, _TOPICS_ES, strict=True)
)

# Sentence templates of the descriptions. Each stays one sentence for the evidence splitter
# (matcher.texts.sentences) whatever topic fills it, so the cache holds every sentence the service quotes.
_SENTENCES = {
    "en": (
        "We provide hands-on training in {topic} for government staff and community rangers.",
        "Our team has supported projects on {topic} in more than twenty countries since 2010.",
        "Support can include a scoping mission, remote backstopping and a short course on {topic}.",
        "We share field protocols, open datasets and software tools for {topic}.",
        "Our specialists advise ministries on the policies and legal frameworks needed for {topic}.",
        "We mentor early-career practitioners who work on {topic} in their own countries.",
        "Joint research on {topic} can be arranged with universities and national institutes.",
        "Field equipment for {topic} can be lent or donated, together with maintenance training.",
        "We help partners design monitoring indicators and baselines for {topic}.",
        "Small grants are available to community organisations that lead work on {topic}.",
        "Lessons from pilots in {topic} are documented and shared through regional networks.",
        "Work on {topic} is co-designed with local communities and indigenous peoples.",
    ),
    "fr": (
        "Nous proposons des formations pratiques sur {topic} aux agents de l'État et aux écogardes.",
        "Notre équipe accompagne des projets portant sur {topic} dans une vingtaine de pays.",
        "L'appui peut comprendre une mission de cadrage, un suivi à distance et un court module sur {topic}.",
        "Nous partageons des protocoles de terrain, des données ouvertes et des outils pour {topic}.",
        "Nos spécialistes conseillent les ministères sur le cadre juridique nécessaire pour {topic}.",
        "Nous encadrons de jeunes professionnels qui travaillent sur {topic} dans leur pays.",
        "Des recherches conjointes sur {topic} peuvent être menées avec des universités partenaires.",
        "Les travaux concernant {topic} sont conçus avec les communautés locales.",
    ),
    "es": (
        "Ofrecemos capacitación práctica sobre {topic} para funcionarios y guardaparques comunitarios.",
        "Nuestro equipo ha apoyado proyectos sobre {topic} en más de veinte países.",
        "El apoyo puede incluir una misión de diagnóstico, asistencia a distancia y un curso breve sobre {topic}.",
        "Compartimos protocolos de campo, datos abiertos y herramientas para {topic}.",
        "Nuestros especialistas asesoran a los ministerios sobre el marco jurídico necesario para {topic}.",
        "Acompañamos a profesionales jóvenes que trabajan en {topic} en sus propios países.",
        "Se pueden organizar investigaciones conjuntas sobre {topic} con universidades e institutos nacionales.",
        "El trabajo sobre {topic} se diseña junto con las comunidades locales.",
    ),
}
_TITLES = {
    "en": (
        "Training on {topic}",
        "Technical advice on {topic}",
        "Research partnership on {topic}",
        "Mentoring programme in {topic}",
        "Data and tools for {topic}",
        "Policy support for {topic}",
        "Equipment and know-how for {topic}",
        "Small grants for {topic}",
    ),
    "fr": (
        "Formation sur {topic}",
        "Conseil technique sur {topic}",
        "Partenariat de recherche sur {topic}",
        "Accompagnement pour {topic}",
        "Données et outils pour {topic}",
        "Appui juridique pour {topic}",
    ),
    "es": (
        "Capacitación sobre {topic}",
        "Asesoría técnica sobre {topic}",
        "Alianza de investigación sobre {topic}",
        "Acompañamiento para {topic}",
        "Datos y herramientas para {topic}",
        "Apoyo jurídico para {topic}",
    ),
}
_TITLE_QUALIFIERS = ("", " (pilot)", " (regional programme)", " (online)")
_LANGUAGES = ("en", "fr", "es")
_LANGUAGE_WEIGHTS = (0.7, 0.15, 0.15)
_ORGANISATION_PREFIXES = (
    "Institute for",
    "Centre for",
    "Network for",
    "Foundation for",
    "Alliance for",
    "Trust for",
    "Society for",
    "Laboratory of",
)
_ORGANISATION_SUBJECTS = (
    "Coastal Ecology",
    "Forest Futures",
    "Island Conservation",
    "Wetland Science",
    "Biodiversity Data",
    "Marine Resources",
    "Dryland Restoration",
    "Mountain Ecosystems",
    "Community Conservation",
    "Environmental Law",
    "Agroecology",
    "Urban Nature",
    "Freshwater Life",
    "Wildlife Health",
    "Pollinator Research",
)
_OFFERS_PER_ORGANISATION = 5  # on average


@dataclass(frozen=True, slots=True)
class SyntheticOffer:
    """One offer of the synthetic corpus.

    Attributes:
        record: the offer, as an import record.
        sentences: its description, sentence by sentence (each one of :func:`pool_sentences`).
        language: the language it is written in.
    """

    record: OfferRecord
    sentences: tuple[str, ...]
    language: str

    @property
    def text(self) -> str:
        """The text the service embeds for the offer."""
        return record_text(self.record.title, self.record.description, self.record.targets)


def pool_sentences() -> dict[str, str]:
    """Every sentence the synthetic descriptions are made of, with its language (a few hundred)."""
    return {
        template.format(topic=topic.phrase(language)): language
        for language, templates in _SENTENCES.items()
        for template in templates
        for topic in _TOPICS
    }


def synthetic_offers(count: int, *, seed: int = 0) -> Iterator[SyntheticOffer]:
    """``count`` realistic-looking offers with unique titles, reproducible from ``seed``.

    An offer is written in English (70 %), French or Spanish. Its title names an activity, a topic and a
    country ("Training on mangrove restoration in Kenya"), unique within the corpus: every language enumerates
    (activity, topic, country, qualifier) in a shuffled order, and a number is appended once all are used. The
    description is three to five pool sentences on that topic, sometimes one on a second topic; the targets are
    the topics' KMGBF targets. The offer serves the whole world, the title country's region, or that country
    and a few others. Organisations (a fifth as many as offers) are shared by several offers.
    """
    if count < 0:
        raise ValueError(f"count must not be negative; got {count}")
    rng = random.Random(seed)  # noqa: S311 - a reproducible corpus, not a secret
    countries = sorted(vocab.countries().values(), key=lambda c: c.alpha3)
    organisations = [
        (
            f"{rng.choice(_ORGANISATION_PREFIXES)} {rng.choice(_ORGANISATION_SUBJECTS)} – {home.name}",
            rng.choice(vocab.ORGANISATION_TYPES),
            home.alpha3,
        )
        for home in (rng.choice(countries) for _ in range(max(1, count // _OFFERS_PER_ORGANISATION)))
    ]
    orders = {language: _TitleOrder(language, len(countries), rng) for language in _LANGUAGES}
    for number in range(count):
        language = rng.choices(_LANGUAGES, _LANGUAGE_WEIGHTS)[0]
        activity, topic, country, qualifier, repeat = orders[language].next()
        place = countries[country]
        title = _TITLES[language][activity].format(topic=_TOPICS[topic].phrase(language))
        title = title[0].upper() + title[1:]
        title += f" in {place.name}" if language == "en" else f" – {place.name}"
        title += _TITLE_QUALIFIERS[qualifier] + (f" ({repeat + 1})" if repeat else "")
        topics = [topic]
        if rng.random() < 0.4:
            topics.append(rng.randrange(len(_TOPICS)))
        templates = _SENTENCES[language]
        picked = rng.sample(range(len(templates)), rng.randint(3, 5))
        sentences = [templates[i].format(topic=_TOPICS[topic].phrase(language)) for i in picked]
        if len(topics) > 1:
            sentences.insert(
                rng.randrange(1, len(sentences) + 1),
                rng.choice(templates).format(topic=_TOPICS[topics[1]].phrase(language)),
            )
        sentences = list(dict.fromkeys(sentences))
        spoken = (
            {language}
            | ({"en"} if rng.random() < 0.5 else set())
            | ({"fr", "es"} if rng.random() < 0.1 else set())
        )
        reach = rng.random()
        regions: list[str] = []
        served: list[str] = []
        if reach < 0.25:
            regions = [vocab.GLOBAL]
        elif reach < 0.65:
            regions = [place.sub_region] + ([place.region] if rng.random() < 0.3 else [])
        else:
            served = [place.alpha3] + [c.alpha3 for c in rng.sample(countries, rng.randint(0, 3))]
        name, org_type, home = rng.choice(organisations)
        record = OfferRecord.model_validate(
            dict(
                id=f"bench-{number:07d}",
                organisation=name,
                org_type=org_type,
                country=home,
                regions_served=regions,
                countries_served=served,
                title=title,
                description=" ".join(sentences),
                targets=sorted({t for i in topics for t in _TOPICS[i].targets}),
                assistance_types=rng.sample(vocab.ASSISTANCE_TYPES, rng.randint(1, 3)),
                languages=sorted(spoken),
                cost=rng.choice(vocab.COSTS),
            )
        )
        yield SyntheticOffer(record, tuple(sentences), language)


def offer_like_vectors(
    sentence_vectors: Mapping[str, NDArray[np.float32]], n: int, rng: np.random.Generator
) -> NDArray[np.float32]:
    """``n`` vectors distributed like the embeddings of :func:`synthetic_offers`, without writing any record.

    Each one is made as :func:`_write_corpus` makes an offer's: the mean of the vectors of four pool sentences
    on one topic in one language (a second topic in 40 % of them), plus noise, normalised. Fast enough for
    1M vectors (seconds), where embedding 1M texts would take hours on 2 cores.

    Args:
        sentence_vectors: The real embedding of every :func:`pool_sentences` sentence.
        n: How many vectors.
        rng: Source of randomness.
    """
    dim = len(next(iter(sentence_vectors.values())))
    out = np.empty((n, dim), np.float32)
    languages = rng.choice(len(_LANGUAGES), n, p=np.asarray(_LANGUAGE_WEIGHTS) / sum(_LANGUAGE_WEIGHTS))
    for number, language in enumerate(_LANGUAGES):
        rows = np.flatnonzero(languages == number)
        # table[template, topic] is the vector of that sentence.
        table = np.stack(
            [
                np.stack([sentence_vectors[t.format(topic=topic.phrase(language))] for topic in _TOPICS])
                for t in _SENTENCES[language]
            ]
        )
        templates, topics = table.shape[:2]
        topic = rng.integers(0, topics, rows.size)
        means = np.zeros((rows.size, dim), np.float32)
        for _ in range(4):
            means += table[rng.integers(0, templates, rows.size), topic]
        second = rng.random(rows.size) < 0.4
        means[second] += table[rng.integers(0, templates, rows.size), rng.integers(0, topics, rows.size)][second]
        means /= np.linalg.norm(means, axis=1, keepdims=True)
        means += rng.standard_normal(means.shape, dtype=np.float32) * np.float32(_OFFER_NOISE / np.sqrt(dim))
        out[rows] = l2_normalise(means)
    return out


class _TitleOrder:
    """Every (activity, topic, country, qualifier) of one language once, in a shuffled order, then again."""

    def __init__(self, language: str, n_countries: int, rng: random.Random) -> None:
        self.radices = (len(_TITLES[language]), len(_TOPICS), n_countries, len(_TITLE_QUALIFIERS))
        self.order = list(range(int(np.prod(self.radices))))
        rng.shuffle(self.order)
        self.used = 0

    def next(self) -> tuple[int, int, int, int, int]:
        """``(activity, topic, country, qualifier, repeat)``: repeat counts the passes over every title."""
        repeat, at = divmod(self.used, len(self.order))
        self.used += 1
        code = self.order[at]
        digits = []
        for radix in self.radices:
            code, digit = divmod(code, radix)
            digits.append(digit)
        activity, topic, country, qualifier = digits
        return activity, topic, country, qualifier, repeat


# ---------------------------------------------------------------------------------------- the database


def _reference_vectors(
    embedder: Embedder, say: ProgressFn
) -> tuple[dict[str, NDArray[np.float32]], list[_Cached]]:
    """Embed, for real, the pool sentences and the texts the service fits its language centring on.

    Returns the pool sentence vectors and the cache entries of both (each with the language the service's
    embedding store would detect).
    """
    pool = list(pool_sentences())
    demo = [text for texts in demo_texts().values() for text in texts]
    say(f"embedding {len(pool)} pool sentences and {len(demo)} demo texts with {embedder.model_id}")
    vectors = embedder.embed([*pool, *demo])
    cached = [
        (text_hash(text), vectors[i].astype("<f4").tobytes(), detect_language(text))
        for i, text in enumerate([*pool, *demo])
    ]
    return dict(zip(pool, vectors[: len(pool)], strict=True)), cached


def _write_corpus(
    db: Database,
    offers: Iterable[SyntheticOffer],
    *,
    sentence_vectors: Mapping[str, NDArray[np.float32]],
    model_id: str,
    seed: int,
) -> int:
    """Write the offers and cache a synthesised embedding of each offer text; returns the offers written.

    An offer's vector is the mean of its sentences' vectors plus Gaussian noise (norm about ``_OFFER_NOISE``
    times the mean's), normalised. Its cached language is the one it was written in: measured on 3,000 offers,
    the detector the service uses agreed on every one, and detecting 100,000 texts would take 40 s.
    """
    rng = np.random.default_rng(seed)
    dim = len(next(iter(sentence_vectors.values())))
    written = 0
    chunk: list[SyntheticOffer] = []

    def flush() -> None:
        means = np.stack([np.mean([sentence_vectors[s] for s in o.sentences], axis=0) for o in chunk])
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        vectors = l2_normalise(means + rng.standard_normal(means.shape) * (_OFFER_NOISE * norms / np.sqrt(dim)))
        items = [(text_hash(o.text), vectors[i].astype("<f4").tobytes(), o.language) for i, o in enumerate(chunk)]
        with db.transaction() as session:
            writer = RecordWriter(session)
            # Organisations first: each one looked up while offers are pending would flush them (autoflush),
            # which made writing 1.5x slower.
            for record in {(o.record.organisation, o.record.country): o.record for o in chunk}.values():
                writer.organisation_id(record.organisation, record.org_type, record.country)
            writer.upsert("offers", [o.record for o in chunk], ImportReport(kind="offers"))
            EmbeddingRepository(session).put_many(model_id, dim, items)
        chunk.clear()

    for offer in offers:
        chunk.append(offer)
        written += 1
        if len(chunk) == _WRITE_CHUNK:
            flush()
    if chunk:
        flush()
    return written


def _prepare(
    data_dir: Path,
    size: int,
    *,
    model_id: str,
    dim: int,
    reference: tuple[dict[str, NDArray[np.float32]], list[_Cached]],
    seed: int,
) -> str:
    """Create the database of one size in ``data_dir``: schema, offers, embedding cache and a secretariat key.

    Returns the API key.
    """
    sentence_vectors, cached = reference
    db = Database(_database_url(data_dir))
    try:
        migrate.upgrade(db)
        with db.transaction() as session:
            EmbeddingRepository(session).put_many(model_id, dim, cached)
        _write_corpus(
            db, synthetic_offers(size, seed=seed), sentence_vectors=sentence_vectors, model_id=model_id, seed=seed
        )
        with db.transaction() as session:
            user = accounts.create_user(session, name="bench", role="secretariat")
            return accounts.issue_key(session, user, label="pollinate bench api").secret
    finally:
        db.dispose()


def _database_url(data_dir: Path) -> str:
    """The throwaway SQLite database of a data directory (both the bench and its server use this URL, whatever
    ``POLLINATE_DATABASE__URL`` says)."""
    return sqlite_url(data_dir / "pollinate.db")


# ------------------------------------------------------------------------------------------ the server


@dataclass(slots=True)
class _Server:
    """A uvicorn process serving the app on loopback, its access log in ``log_path``."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]


def _server_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    """The server's environment: the bench's engine settings, its own data directory, no rate limits.

    Every ``POLLINATE_*`` variable of this process is replaced, so the server runs the configuration the bench
    was given (and its model id is the one the cache was filled for) on the throwaway SQLite database.
    """
    env = {name: value for name, value in os.environ.items() if not name.upper().startswith("POLLINATE_")}
    for section in ("embedding", "index", "ranking"):
        for name, value in getattr(settings, section).model_dump(mode="json").items():
            if value is not None:
                env[f"POLLINATE_{section}__{name}".upper()] = (
                    str(value).lower() if isinstance(value, bool) else str(value)
                )
    env.update(
        POLLINATE_DATA_DIR=str(data_dir),
        POLLINATE_DATABASE__URL=_database_url(data_dir),
        POLLINATE_API__MATCH_RATE=_UNLIMITED_RATE,
        POLLINATE_API__WRITE_RATE=_UNLIMITED_RATE,
        POLLINATE_API__ANONYMOUS_RATE=_UNLIMITED_RATE,
        POLLINATE_API__LOG_FORMAT="json",
    )
    # As `pollinate serve`: one OpenMP thread per process, parallelism from concurrent requests.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _serving(env: Mapping[str, str], *, workers: int, log_path: Path) -> Iterator[_Server]:
    """Run the service while the block runs; stop it (SIGTERM, then SIGKILL) however the block ends."""
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", APP_FACTORY,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches the bench only, which then stops the server in order.
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield _Server(process, port, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: _Server, *, workers: int, timeout_s: float = _START_TIMEOUT_S) -> int:
    """Wait until every worker has started and ``GET /ready`` answers 200; returns the offers indexed.

    Raises:
        RuntimeError: the server exited or was not ready in time (with the end of its log).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        # uvicorn accepts connections once a worker's lifespan has loaded the model and built the index; with
        # several workers, a ready one would answer while others still load, so count their start-up lines.
        started = server.log_path.read_text(encoding="utf-8", errors="replace").count(
            "Application startup complete"
        )
        if started >= workers:
            status, body = _get(server.port, "/ready")
            # A large catalogue's HNSW graph builds in the background after start-up: time the service with it.
            if status == 200 and body["checks"].get("index_graph") != "building":
                return int(body["checks"]["offers_indexed"])
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready after {timeout_s:.0f} s:\n{server.log_tail()}")


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a GET on the server (status 0 when it did not answer)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    except (OSError, http.client.HTTPException, json.JSONDecodeError):
        return 0, {}
    finally:
        connection.close()


@dataclass(frozen=True, slots=True)
class _ServerLog:
    """What the server logged during one phase.

    Attributes:
        entries: its JSON log entries (access lines, errors) by request id.
        tracebacks: uvicorn's report of every exception that escaped the app, traceback included (the app's own
            error line names the exception only).
    """

    entries: dict[str, list[dict[str, Any]]]
    tracebacks: list[str]


def _read_server_log(log_path: Path, *, offset: int) -> _ServerLog:
    """The server's log from byte ``offset`` on (where the phase started)."""
    with log_path.open("rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", errors="replace").splitlines()
    entries: dict[str, list[dict[str, Any]]] = {}
    tracebacks: list[list[str]] = []
    in_traceback = False
    for line in lines:
        if line.startswith("{"):
            in_traceback = False
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("request_id"), str):
                entries.setdefault(entry["request_id"], []).append(entry)
        elif "Exception in ASGI application" in line:
            in_traceback = True
            tracebacks.append([line])
        elif in_traceback and not line.startswith(("INFO:", "WARNING:", "ERROR:")):
            tracebacks[-1].append(line)
        else:
            in_traceback = False
    return _ServerLog(entries, ["\n".join(block) for block in tracebacks])


# ------------------------------------------------------------------------------------------ the clients


@dataclass(frozen=True, slots=True)
class _Request:
    """One matching request: its id (also its ``X-Request-ID``) and its JSON body."""

    request_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a client saw: latency, HTTP status (0: no answer), matches returned, or what went wrong."""

    request_id: str
    latency_s: float
    status: int
    matches: int
    error: str | None


class _Needs:
    """Matching requests built from the demo needs, each with a text no earlier request had."""

    def __init__(self, *, k: int) -> None:
        self.k = k
        self.count = 0
        self.needs: list[NeedRecord] = []
        for number, row in iter_rows(DEMO_NEEDS, "jsonl"):
            if not isinstance(row, dict):
                raise RuntimeError(f"{DEMO_NEEDS}:{number}: {row.message}")
            record = validate_row("needs", row)
            assert isinstance(record, NeedRecord)
            self.needs.append(record)

    def take(self, n: int) -> list[_Request]:
        """The next ``n`` requests."""
        requests = []
        for number in range(self.count, self.count + n):
            need = self.needs[number % len(self.needs)]
            body = {
                # A unique text: the service embeds it with the model, as it would a new need.
                "text": f"{need.title}. {need.description} Request {number + 1}.",
                "k": self.k,
                "targets": list(need.targets),
                "country": need.party,
                "assistance_types": list(need.assistance_types),
            }
            requests.append(_Request(f"bench-{number + 1}", json.dumps(body).encode("utf-8")))
        self.count += n
        return requests


def _post_all(
    port: int, key: str, requests: Sequence[_Request], *, concurrency: int
) -> tuple[list[_Outcome], float]:
    """Send the requests from ``concurrency`` clients in a closed loop; returns their outcomes and the wall time.

    Each client holds one keep-alive connection and sends its next request when the previous one is answered.
    """
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(requests)):
        todo.put(i)
    outcomes: list[_Outcome | None] = [None] * len(requests)
    stop = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_REQUEST_TIMEOUT_S)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        try:
            while not stop.is_set():
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                outcomes[i] = _post(connection, requests[i], headers)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, name=f"bench-client-{c}", daemon=True) for c in range(concurrency)]
    started = time.perf_counter()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
    wall = time.perf_counter() - started
    done = [outcome for outcome in outcomes if outcome is not None]
    assert len(done) == len(requests), "every request was sent"
    return done, wall


def _post(connection: http.client.HTTPConnection, request: _Request, headers: Mapping[str, str]) -> _Outcome:
    started = time.perf_counter()
    try:
        connection.request(
            "POST", MATCH_PATH, body=request.body, headers={**headers, "X-Request-ID": request.request_id}
        )
        response = connection.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()  # the next request reconnects
        return _Outcome(request.request_id, time.perf_counter() - started, 0, 0, f"{type(exc).__name__}: {exc}")
    latency = time.perf_counter() - started
    if response.status != 200:
        return _Outcome(
            request.request_id, latency, response.status, 0, payload[:300].decode("utf-8", errors="replace")
        )
    try:
        matches = len(json.loads(payload)["matches"])
    except (ValueError, KeyError, TypeError):
        return _Outcome(request.request_id, latency, 200, 0, f"unreadable answer: {payload[:300]!r}")
    return _Outcome(request.request_id, latency, 200, matches, None)


def _summary(
    outcomes: Sequence[_Outcome], wall: float, log: _ServerLog, *, size: int, concurrency: int
) -> dict[str, Any]:
    """One report row: latency percentiles over the answered requests, throughput, failures.

    A failure's sample holds what the client saw and the server's log entries of that request; the row also
    keeps the first tracebacks the server logged.
    """
    ok = [o for o in outcomes if o.status == 200 and o.error is None]
    failed = [o for o in outcomes if o.status != 200 or o.error is not None]
    latencies = np.asarray([o.latency_s * 1e3 for o in ok], dtype=np.float64)
    server_ms = [
        float(entry["duration_ms"])
        for o in ok
        for entry in log.entries.get(o.request_id, [])
        if entry.get("event") == "request" and entry.get("path") == MATCH_PATH
    ]

    def percentile(values: NDArray[np.float64] | Sequence[float], q: float) -> float | None:
        return round(float(np.percentile(values, q)), 2) if len(values) else None

    return {
        "size": size,
        "concurrency": concurrency,
        "requests": len(outcomes),
        "ok": len(ok),
        "errors": len(failed),
        "error_samples": [
            {
                "request_id": o.request_id,
                "status": o.status,
                "error": o.error,
                "server_log": [
                    entry for entry in log.entries.get(o.request_id, []) if entry.get("event") != "request"
                ],
            }
            for o in failed[:_ERROR_SAMPLES]
        ],
        "median_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "mean_ms": round(float(latencies.mean()), 2) if len(latencies) else None,
        "max_ms": round(float(latencies.max()), 2) if len(latencies) else None,
        "requests_per_s": round(len(ok) / wall, 2),
        "wall_s": round(wall, 2),
        "matches_min": min((o.matches for o in ok), default=None),
        "server_median_ms": percentile(server_ms, 50),
        "server_p99_ms": percentile(server_ms, 99),
        "server_tracebacks": log.tracebacks[:_ERROR_SAMPLES],
    }


# ------------------------------------------------------------------------------------------ the benchmark


def run_api_benchmark(
    settings: Settings,
    embedder: Embedder,
    *,
    sizes: Sequence[int] = (10_000, 100_000),
    concurrency: Sequence[int] = (1, 4),
    n_requests: int = 200,
    warmup: int = 8,
    workers: int = 1,
    k: int = 10,
    seed: int = 0,
    micro_batching: Sequence[bool] = (True,),
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Measure ``POST /v1/match`` on a served corpus of each size, at each number of concurrent clients.

    Args:
        settings: the engine configuration to serve (embedding, index and ranking sections; the database, data
            directory and rate limits are the bench's own).
        embedder: the configured embedder (``create_embedder(settings)``): its model id keys the cache entries
            the bench writes, and it embeds the pool sentences and demo texts.
        sizes: corpus sizes (offers).
        concurrency: numbers of concurrent clients; each level sends ``n_requests`` requests.
        n_requests: timed requests per (size, concurrency).
        warmup: untimed requests per size before the timed ones, from the largest number of clients.
        workers: uvicorn worker processes.
        k: providers per answer.
        seed: seed of the corpus and of the offer vectors.
        micro_batching: serve each size once per value: True with the configured micro-batching wait, False
            with it off (``micro_batch_wait_ms=0``), so that both are measured side by side.
        progress: called with a short message as each step starts (the CLI prints them).

    Returns:
        A JSON-serialisable report: ``model_id``, ``dim``, ``embedder``, ``k``, ``n_requests``, ``warmup``,
        ``concurrency``, ``workers``, ``seed``, ``cpu_count``, ``load_average`` (1-minute, at the start; None
        where unknown), ``omp_num_threads`` (the server's), ``client``, ``note`` (what the corpus is),
        ``reference_s`` (embedding the pool and demo texts); ``setups``, one entry per (size, micro-batching)
        with ``size``, ``micro_batching``, ``offers_indexed``, ``write_s`` (offers and cache) and
        ``server_start_s`` (until ready); ``results``, one entry per (size, micro-batching, concurrency) with
        ``micro_batching``, ``requests``, ``ok``, ``errors``, ``error_samples`` (request id,
        status, what the client saw, the server's log entries), ``median_ms``, ``p90_ms``, ``p99_ms``,
        ``mean_ms``, ``max_ms`` (client side, over the answered requests; None when none was),
        ``requests_per_s``, ``wall_s``, ``matches_min``, the server's own ``server_median_ms`` and
        ``server_p99_ms``, and ``server_tracebacks``; ``wall_s``.

    Raises:
        ValueError: a size, concurrency, request count, worker count or k out of range.
        RuntimeError: a server did not start.
    """
    if not sizes or min(sizes) < 1:
        raise ValueError(f"sizes must be positive integers; got {list(sizes)}")
    if not concurrency or min(concurrency) < 1:
        raise ValueError(f"concurrency levels must be positive integers; got {list(concurrency)}")
    if not micro_batching:
        raise ValueError("micro_batching needs at least one value (True, False or both)")
    if n_requests < 1 or warmup < 0 or workers < 1 or not 1 <= k <= 100:
        raise ValueError(
            f"need requests >= 1, warmup >= 0, workers >= 1 and 1 <= k <= 100; "
            f"got {n_requests}, {warmup}, {workers}, {k}"
        )
    say = progress or (lambda _message: None)
    # Other processes competing for the cores change every figure: say how busy the machine was.
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    reference = _reference_vectors(embedder, say)
    reference_s = time.perf_counter() - started
    needs = _Needs(k=k)
    setups: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    omp = "1"
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"pollinate-bench-api-{size}-") as tmp:
            data_dir = Path(tmp)
            say(f"{size:,} offers: writing the offers and filling the embedding cache")
            began = time.perf_counter()
            key = _prepare(
                data_dir, size, model_id=embedder.model_id, dim=embedder.dim, reference=reference, seed=seed
            )
            write_s = time.perf_counter() - began
            for batching in dict.fromkeys(micro_batching):
                env = _server_env(settings, data_dir)
                if not batching:
                    env["POLLINATE_EMBEDDING__MICRO_BATCH_WAIT_MS"] = "0"
                omp = env["OMP_NUM_THREADS"]
                mode = f"micro-batching {'on' if batching else 'off'}"
                say(f"{size:,} offers, {mode}: starting the server ({workers} worker{'s' if workers > 1 else ''})")
                began = time.perf_counter()
                with _serving(
                    env, workers=workers, log_path=data_dir / f"server-{mode[-3:].strip()}.log"
                ) as server:
                    indexed = _wait_ready(server, workers=workers)
                    start_s = time.perf_counter() - began
                    setups.append(
                        {
                            "size": size,
                            "micro_batching": batching,
                            "offers_indexed": indexed,
                            "write_s": round(write_s, 2),
                            "server_start_s": round(start_s, 2),
                        }
                    )
                    if warmup:
                        say(f"{size:,} offers, {mode}: {warmup} warm-up requests")
                        _post_all(server.port, key, needs.take(warmup), concurrency=max(concurrency))
                    for clients in concurrency:
                        say(
                            f"{size:,} offers, {mode}: {n_requests} requests from {clients} "
                            f"client{'s' if clients > 1 else ''}"
                        )
                        offset = server.log_path.stat().st_size
                        outcomes, wall = _post_all(server.port, key, needs.take(n_requests), concurrency=clients)
                        log = _read_server_log(server.log_path, offset=offset)
                        row = _summary(outcomes, wall, log, size=size, concurrency=clients)
                        results.append({"micro_batching": batching, **row})
    return {
        "model_id": embedder.model_id,
        "dim": embedder.dim,
        "embedder": type(embedder).__name__,
        "k": k,
        "n_requests": n_requests,
        "warmup": warmup,
        "concurrency": list(concurrency),
        "workers": workers,
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "omp_num_threads": omp,
        "client": "http.client, one keep-alive connection per client thread, in the bench process",
        "note": (
            "synthetic offers; offer vectors are synthesised from real embeddings of their sentences, the need "
            "of every request is embedded by the model: speed figures, not ranking quality"
        ),
        "reference_s": round(reference_s, 2),
        "setups": setups,
        "results": results,
        "wall_s": round(time.perf_counter() - started, 2),
    }


# ------------------------------------------------------------------------------------------ the command

_err = Console(stderr=True)


def api_cmd(
    ctx: typer.Context,
    sizes: Annotated[str, typer.Option(help="Corpus sizes (offers), comma-separated.")] = "10000,100000",
    concurrency: Annotated[
        str, typer.Option(help="Numbers of concurrent clients, comma-separated; each sends --requests requests.")
    ] = "1,4",
    requests: Annotated[int, typer.Option(min=1, help="Timed requests per size and concurrency.")] = 200,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed requests per size before the timed ones.")] = 8,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes of the server.")] = 1,
    k: Annotated[int, typer.Option(min=1, max=100, help="Providers per answer.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic corpus and its vectors.")] = 0,
    micro_batching: Annotated[
        str,
        typer.Option(
            help="Serve each size with micro-batching `on`, `off`, or both side by side (`on,off`: a second "
            "server per size)."
        ),
    ] = "on,off",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
) -> None:
    """Latency (median, p99) and requests/s of POST /v1/match over loopback, embedding included.

    For each size: a throwaway SQLite database of synthetic offers, the service in its own uvicorn process on
    127.0.0.1 (OMP_NUM_THREADS=1), then concurrent clients posting needs whose text is new at every request,
    so the model embeds each one. Offer embeddings are synthesised from real embeddings of their sentences
    (embedding 100,000 offers would take 40 minutes): speed figures, not ranking quality. The default run
    takes about 5 minutes on 2 cores. Exits with 1 when a request failed (the JSON report says why).
    """
    size_list = number_list(sizes, "--sizes", positive=True)
    level_list = number_list(concurrency, "--concurrency", positive=True)
    modes = [part.strip() for part in micro_batching.split(",") if part.strip()]
    if not modes or any(mode not in {"on", "off"} for mode in modes):
        raise typer.BadParameter("a comma-separated list of on and off", param_hint="--micro-batching")
    settings = command_settings(ctx)
    progress(f"loading the embedder {settings.embedding.model}")
    embedder = create_embedder(settings)
    try:
        report = run_api_benchmark(
            settings,
            embedder,
            sizes=size_list,
            concurrency=level_list,
            n_requests=requests,
            warmup=warmup,
            workers=workers,
            k=k,
            seed=seed,
            micro_batching=[mode == "on" for mode in modes],
            progress=progress,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except RuntimeError as exc:
        _err.print(f"[red]{exc}[/red]", markup=False)
        raise typer.Exit(1) from exc
    emit_report(report, _table(report), as_json=as_json, out_file=out_file)
    if any(row["errors"] for row in report["results"]):
        _print_failures(report)
        raise typer.Exit(1)


def _print_failures(report: dict[str, Any]) -> None:
    """What failed, on stderr: each failed request's answer and the exception of each server traceback."""
    for row in report["results"]:
        if not row["errors"]:
            continue
        _err.print(
            f"[red]{row['size']:,} offers, {row['concurrency']} clients: {row['errors']} requests failed[/red]"
        )
        for sample in row["error_samples"]:
            _err.print(f"  {sample['request_id']}: status {sample['status']}: {sample['error']}", markup=False)
        for traceback in row["server_tracebacks"]:
            _err.print(f"  server: {traceback.strip().splitlines()[-1]}", markup=False)
    _err.print("the JSON report (--json, --out) has the server's log entries and full tracebacks")


def _table(report: dict[str, Any]) -> Table:
    starts = ", ".join(
        f"{s['size']:,} (batching {'on' if s['micro_batching'] else 'off'}): {s['offers_indexed']:,} indexed, "
        f"ready in {s['server_start_s']:.1f} s"
        for s in report["setups"]
    )
    load = "" if report["load_average"] is None else f", load average {report['load_average']:.2f} at the start"
    table = Table(
        title=f"POST /v1/match over loopback, k={report['k']}, {report['model_id']}, {report['workers']} "
        f"worker{'s' if report['workers'] > 1 else ''}, OMP_NUM_THREADS={report['omp_num_threads']}",
        caption=f"latencies in ms, client side (server: from its access log); {report['n_requests']} timed "
        f"requests per row after {report['warmup']} warm-up\nserver start: {starts}\n{report['note']}"
        f"\nwall {report['wall_s']:.0f} s on {report['cpu_count']} cores{load}"
        "\ntarget (2 cores, <= 2 clients, 100k offers): median <= 15 ms, p99 <= 50 ms, >= 300 req/s",
    )
    table.add_column("offers", justify="right")
    table.add_column("batching")
    table.add_column("clients", justify="right")
    for numeric in ("median", "p90", "p99", "mean", "max", "req/s", "server median", "server p99", "errors"):
        table.add_column(numeric, justify="right")
    for row in report["results"]:
        table.add_row(
            f"{row['size']:,}",
            "on" if row["micro_batching"] else "off",
            str(row["concurrency"]),
            *(_ms(row[name]) for name in ("median_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")),
            f"{row['requests_per_s']:.1f}",
            _ms(row["server_median_ms"]),
            _ms(row["server_p99_ms"]),
            str(row["errors"]) if not row["errors"] else f"[red]{row['errors']}[/red]",
        )
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
