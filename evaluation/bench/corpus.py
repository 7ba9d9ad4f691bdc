"""The corpora of the benchmarks: the demo texts, and a synthetic offer corpus of any size with embeddings
that cost no model time, written into a throwaway database.

Synthetic corpus
    Descriptions are assembled from a pool of 840 sentences — 28 templates in English, French and Spanish,
    each about one of thirty biodiversity-cooperation topics (:func:`pool_sentences`) — and titles from an
    activity, a topic and a country; targets follow the topics; assistance types, languages, costs,
    organisations and the areas served vary. Titles are unique.

Embeddings
    Embedding 100,000 offers with the packaged model would take about 40 minutes on 2 cores, so the embedding
    cache is filled before the server starts, under each of the configured embedder's encoders' model ids: the
    service caches and reads each encoder of a fused setup on its own (``matcher.engine.encoders``), so a
    composite's vector (its parts' unit vectors side by side, scaled alike) is split into the parts' slices,
    each normalised again and cached under that part's model id. Under the composite's id alone, a fused server
    found none of its entries and embedded every offer at start. The pool sentences — the evidence the
    explanations quote — and the demo texts and parallel reference texts the service fits its language centring
    on are embedded for real; each offer's vector is the mean of its sentences' vectors plus seeded Gaussian
    noise of half the mean's norm, normalised. That noise was calibrated on the 160 demo offers embedded by the
    model: mean cosine between two offers 0.31 (synthetic 0.31), between two offers sharing a target 0.38
    (0.37).
    The structure matters for speed, not only for quality: the ranker deepens its vector search until the
    top-k is certified, and with random unit vectors instead it scanned 76,000 of 100,000 offers per query on
    average (8,250 with these vectors; in-process median 225 ms instead of 124 ms). The synthetic corpus is
    still harder than a real one in that respect — thirty topics, some 3,300 near-duplicate offers each at
    100k, none really about the need — so its figures are more likely pessimistic than flattering. Rankings of
    a synthetic corpus mean nothing; the figures are about speed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from embeddings import Embedder, l2_normalise
from embeddings.composite import parts_of
from matcher.access import accounts
from matcher.data import DEMO_NEEDS, DEMO_OFFERS
from matcher.engine.encoders import centring_texts
from matcher.engine.store import text_hash
from matcher.engine.texts import detect_language, record_text
from matcher.records.bulk import ImportReport, Kind, RecordWriter, iter_rows, validate_row
from matcher.records.interchange import OfferRecord
from models import migrate
from models import vocabularies as vocab
from models.db import Database, sqlite_url
from models.repositories import EmbeddingRepository

__all__ = [
    "OFFER_NOISE",
    "Cached",
    "Layout",
    "ProgressFn",
    "SyntheticOffer",
    "cache_layout",
    "database_url",
    "demo_texts",
    "offer_like_vectors",
    "pool_sentences",
    "prepare",
    "put_cached",
    "reference_vectors",
    "short_texts",
    "synthetic_offers",
]

# Offers written, and cache entries computed, per transaction.
_WRITE_CHUNK = 2_000
# Norm of the noise added to an offer's mean sentence vector, relative to that mean's norm.
OFFER_NOISE = 0.5

ProgressFn = Callable[[str], None]
# Texts to cache: their hashes, their vectors (one row each, in the embedder's layout) and their languages.
Cached = tuple[list[str], NDArray[np.float32], list[str]]
# The encoders a vector is made of, in order: (model id, dimension) of each.
Layout = tuple[tuple[str, int], ...]


# ------------------------------------------------------------------------------------ the demo texts


def demo_texts() -> dict[str, list[str]]:
    """The texts the service embeds for the bundled demo needs and offers, by corpus (``needs``, ``offers``).

    Raises:
        RuntimeError: A packaged demo line is not a JSON object (a broken installation).
        pydantic.ValidationError: A packaged demo record does not validate (likewise).
    """
    sources: tuple[tuple[Kind, Path], ...] = (("needs", DEMO_NEEDS), ("offers", DEMO_OFFERS))
    corpora: dict[str, list[str]] = {}
    for name, path in sources:
        texts: list[str] = []
        for _line, row in iter_rows(path, "jsonl"):
            if not isinstance(row, dict):
                raise RuntimeError(f"{path}: {row}")
            record = validate_row(name, row)
            texts.append(record_text(record.title, record.description, record.targets))
        corpora[name] = texts
    return corpora


def short_texts() -> list[str]:
    """Short texts, a sentence each: the titles of the bundled demo needs and offers (about 75 characters)."""
    titles: list[str] = []
    sources: tuple[tuple[Kind, Path], ...] = (("needs", DEMO_NEEDS), ("offers", DEMO_OFFERS))
    for name, path in sources:
        for _line, row in iter_rows(path, "jsonl"):
            if not isinstance(row, dict):
                raise RuntimeError(f"{path}: {row}")
            titles.append(validate_row(name, row).title)
    return titles


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
# (matcher.engine.texts.sentences) whatever topic fills it, so the cache holds every sentence the service quotes.
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
        means += rng.standard_normal(means.shape, dtype=np.float32) * np.float32(OFFER_NOISE / np.sqrt(dim))
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


def cache_layout(embedder: Embedder) -> Layout:
    """The encoders whose cache entries the service reads for ``embedder``: (model id, dimension) of each part
    of a composite (the slices of its vectors, in order), or of the embedder itself."""
    return tuple((part.model_id, part.dim) for part in parts_of(embedder))


def put_cached(repository: EmbeddingRepository, layout: Layout, cached: Cached) -> None:
    """Cache texts' vectors under each encoder of ``layout``: its slice of every vector, normalised again.

    ``cached`` is the texts' hashes, their vectors in the layout of :func:`cache_layout` and their languages.

    A composite's vector is its parts' unit vectors each scaled by ``1/sqrt(parts)``, so a part's normalised
    slice is that part's own embedding; a synthesised offer vector's slices are offer-like vectors of each part.
    """
    hashes, vectors, languages = cached
    if sum(dim for _, dim in layout) != vectors.shape[1]:
        raise ValueError(f"vectors of dimension {vectors.shape[1]} do not fit the encoders {list(layout)}")
    start = 0
    for model_id, dim in layout:
        block = vectors[:, start : start + dim]
        start += dim
        if len(layout) > 1:
            block = l2_normalise(np.ascontiguousarray(block, dtype=np.float32))
        repository.put_many(
            model_id,
            dim,
            [
                (h, block[i].astype("<f4").tobytes(), lang)
                for i, (h, lang) in enumerate(zip(hashes, languages, strict=True))
            ],
        )


def reference_vectors(embedder: Embedder, say: ProgressFn) -> tuple[dict[str, NDArray[np.float32]], Cached]:
    """Embed, for real, the pool sentences and the texts the service fits its language centring on.

    Returns the pool sentence vectors and the texts to cache for both (hashes, vectors, and the language the
    service's embedding store would detect).
    """
    pool = list(pool_sentences())
    demo = [text for texts in demo_texts().values() for text in texts]
    reference, _languages = centring_texts()
    say(
        f"embedding {len(pool)} pool sentences, {len(demo)} demo texts and {len(reference)} centring texts "
        f"with {embedder.model_id}"
    )
    texts = [*pool, *demo, *reference]
    vectors = embedder.embed(texts)
    cached = ([text_hash(text) for text in texts], vectors, [detect_language(text) for text in texts])
    return dict(zip(pool, vectors[: len(pool)], strict=True)), cached


def _write_corpus(
    db: Database,
    offers: Iterable[SyntheticOffer],
    *,
    sentence_vectors: Mapping[str, NDArray[np.float32]],
    layout: Layout,
    seed: int,
) -> int:
    """Write the offers and cache a synthesised embedding of each offer text under each encoder of ``layout``;
    returns the offers written.

    An offer's vector is the mean of its sentences' vectors plus Gaussian noise (norm about ``OFFER_NOISE``
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
        vectors = l2_normalise(means + rng.standard_normal(means.shape) * (OFFER_NOISE * norms / np.sqrt(dim)))
        cached = ([text_hash(o.text) for o in chunk], vectors, [o.language for o in chunk])
        with db.transaction() as session:
            writer = RecordWriter(session)
            # Organisations first: each one looked up while offers are pending would flush them (autoflush),
            # which made writing 1.5x slower.
            for record in {(o.record.organisation, o.record.country): o.record for o in chunk}.values():
                writer.organisation_id(record.organisation, record.org_type, record.country)
            writer.upsert("offers", [o.record for o in chunk], ImportReport(kind="offers"))
            put_cached(EmbeddingRepository(session), layout, cached)
        chunk.clear()

    for offer in offers:
        chunk.append(offer)
        written += 1
        if len(chunk) == _WRITE_CHUNK:
            flush()
    if chunk:
        flush()
    return written


def prepare(
    data_dir: Path,
    size: int,
    *,
    embedder: Embedder,
    reference: tuple[dict[str, NDArray[np.float32]], Cached],
    seed: int,
) -> str:
    """Create the database of one size in ``data_dir``: schema, offers, embedding cache and a secretariat key.

    The cache holds every text's vector under each of ``embedder``'s encoders (:func:`cache_layout`), so a
    server configured with it — or with any of its parts alone — embeds none of them at start.
    ``reference`` is :func:`reference_vectors` of the same embedder.

    Returns the API key.
    """
    layout = cache_layout(embedder)
    sentence_vectors, cached = reference
    db = Database(database_url(data_dir))
    try:
        migrate.upgrade(db)
        with db.transaction() as session:
            put_cached(EmbeddingRepository(session), layout, cached)
        _write_corpus(
            db, synthetic_offers(size, seed=seed), sentence_vectors=sentence_vectors, layout=layout, seed=seed
        )
        with db.transaction() as session:
            user = accounts.create_user(session, name="bench", role="secretariat")
            return accounts.issue_key(session, user, label="pollinate bench api").secret
    finally:
        db.dispose()


def database_url(data_dir: Path) -> str:
    """The throwaway SQLite database of a data directory (both the bench and its server use this URL, whatever
    ``POLLINATE_DATABASE__URL`` says)."""
    return sqlite_url(data_dir / "pollinate.db")
