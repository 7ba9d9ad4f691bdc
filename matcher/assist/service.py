"""AssistService: what the need form asks while a Party types — suggestions, missing information, duplicates.

Nothing here writes a record. The draft's own text is embedded by the model directly, never through the
embedding cache: a draft is sent at every pause in typing, and neither its words nor its many versions belong
in the database. Existing needs and offers are embedded through the cache (their texts are stored anyway) and
kept in memory by id and version, so that a call compares against thousands of needs without reading a vector
from the database.

The models are fitted on the bundled examples when the service first needs them, unless a fitted copy is saved
(``pollinate assist train`` fits them on the bundled examples plus the catalogue's public needs and active
offers and saves them); see :mod:`matcher.assist.suggest`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from embeddings import Embedder, l2_normalise
from matcher.access import rules as access
from matcher.access.rules import Principal
from matcher.assist import duplicates as dup
from matcher.assist.examples import Example, bundled_examples, catalogue_examples, draft_text, merge
from matcher.assist.missing import Gap, missing
from matcher.assist.places import Place, places_in
from matcher.assist.suggest import Suggester, Suggestions, fingerprint
from matcher.engine.store import EmbeddingStore
from matcher.engine.texts import detect_language
from matcher.errors import PermissionDeniedError
from matcher.settings import Settings
from models import vocabularies as vocab
from models.repositories import NeedListing, OfferListing, RecordText, need_texts, offer_texts

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Fits on the bundled examples, by fingerprint of (examples, embedding model id): see AssistService._fit_bundled.
_BUNDLED_FITS: dict[str, Suggester] = {}
_BUNDLED_FITS_LOCK = threading.Lock()


def forget_bundled_fits() -> None:
    """Drop the fits this process has cached, so that the next service fits again (``pollinate bench
    assist`` times a real fit; in a process that had already fitted, it measured a lookup: 0.0 s)."""
    with _BUNDLED_FITS_LOCK:
        _BUNDLED_FITS.clear()


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Draft:
    """A need (or offer) being written: its text and whatever the writer chose so far."""

    title: str
    description: str
    party: str | None = None
    targets: tuple[int, ...] = ()
    assistance_types: tuple[str, ...] = ()
    language: str | None = None

    @property
    def text(self) -> str:
        return draft_text(self.title, self.description)


@dataclass(frozen=True, slots=True)
class Assistance:
    """Everything the assistant says about a draft need.

    Attributes:
        suggestions: every target's and assistance type's probability (and those worth showing).
        places: the countries and regions the text names.
        missing: what providers will ask for, as codes (render with :func:`matcher.assist.prompts.render`).
        duplicates: similar existing needs of the Party and its region that the caller may see.
        language: the draft's language (given, or detected), the prompts' default language.
    """

    suggestions: Suggestions
    places: list[Place]
    missing: list[Gap]
    duplicates: list[dup.Duplicate]
    language: str


@dataclass(frozen=True, slots=True)
class TrainReport:
    """What a training run fitted on."""

    examples: int
    by_source: dict[str, int]
    path: Path | None
    fingerprint: str


@dataclass(slots=True)
class _Vectors:
    """Embeddings of stored records by id, with the version they were computed for."""

    by_id: dict[int, tuple[int, NDArray[np.float32]]] = field(default_factory=dict)


class AssistService:
    """Suggestions, missing information and duplicates for drafts (see the module docstring).

    Args:
        store: an embedding store over the configured encoders, all of them (with the default MiniLM and USE-m3,
            the concatenation of their unit vectors: the better feature set, docs/assistant.md) and the cache.
        model_path: where fitted models are saved and read (``None``: fit in memory, save nothing).
    """

    def __init__(self, store: EmbeddingStore, *, model_path: Path | None = None) -> None:
        self.store = store
        self.model_path = model_path
        self._suggester: Suggester | None = None
        self._lock = threading.Lock()
        self._needs = _Vectors()
        self._offers = _Vectors()

    @property
    def embedder(self) -> Embedder:
        return self.store.embedder

    # ---------------------------------------------------------------------------------------- models

    def suggester(self) -> Suggester:
        """The fitted models: the saved ones for this embedding model, else fitted now on the bundled examples."""
        if self._suggester is None:
            with self._lock:
                if self._suggester is None:
                    saved = Suggester.load(self.model_path) if self.model_path is not None else None
                    if saved is not None and saved.model_id == self.store.model_id:
                        self._suggester = saved
                    else:
                        self._suggester = self._fit_bundled()
        return self._suggester

    def _fit_bundled(self) -> Suggester:
        """The fit on the bundled examples for this embedding model, made once per process: the examples and
        the model fix it, and a process that builds several services (one per app in the tests, schemathesis
        running an app's lifespan for every request) would otherwise refit for each."""
        examples = bundled_examples()
        key = fingerprint(examples, self.store.model_id)
        with _BUNDLED_FITS_LOCK:
            fitted = _BUNDLED_FITS.get(key)
            if fitted is None:
                fitted = _BUNDLED_FITS[key] = self._fit(examples)
        return fitted

    def _fit(self, examples: Sequence[Example]) -> Suggester:
        vectors, _ = self.store.get([e.text for e in examples])
        model_id = self.store.model_id
        return Suggester.fit(
            examples, l2_normalise(vectors), fingerprint=fingerprint(examples, model_id), model_id=model_id
        )

    def train(self, session: Session) -> TrainReport:
        """Fit the models on the bundled examples and the catalogue's public needs and active offers, save them
        (when the service has a path) and serve them from now on."""
        examples = merge(bundled_examples(), catalogue_examples(session))
        suggester = self._fit(examples)
        if self.model_path is not None:
            suggester.save(self.model_path)
        with self._lock:
            self._suggester = suggester
        by_source: dict[str, int] = {}
        for e in examples:
            by_source[e.source] = by_source.get(e.source, 0) + 1
        return TrainReport(len(examples), by_source, self.model_path, suggester.fingerprint)

    def embed_drafts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings of draft texts, from the model (never cached: see the module docstring)."""
        return l2_normalise(np.asarray(self.embedder.embed(list(texts)), dtype=np.float32))

    def suggest(self, texts: Sequence[str]) -> list[Suggestions]:
        """Targets and assistance types for each text."""
        return self.suggester().suggest_batch(texts, self.embed_drafts(texts))

    # ------------------------------------------------------------------------------------ the assistant

    def assist_need(self, session: Session, principal: Principal, draft: Draft) -> Assistance:
        """Suggestions, missing information and the similar needs the caller may see, for a draft need.

        Parties and the secretariat write needs, so only they are assisted; a Party drafts for its own country.
        """
        access.require_signed_in(principal)
        if not principal.is_staff and principal.role != "party":
            raise PermissionDeniedError("only Parties and the secretariat write needs")
        party = draft.party or principal.country
        if party is not None:
            access.check_create_need(principal, party)
        text = draft.text
        vector = self.embed_drafts([text])
        suggestions = self.suggester().suggest_batch([text], vector)[0]
        places = places_in(text)
        gaps = missing(
            text,
            places=places,
            party=party,
            targets=draft.targets,
            assistance_types=draft.assistance_types,
            target_probabilities=suggestions.targets,
            type_probabilities=suggestions.assistance_types,
        )
        found = self._similar_needs(session, principal, party, vector[0])
        language = draft.language or detect_language(text)
        return Assistance(suggestions, places, gaps, found, language)

    def _similar_needs(
        self, session: Session, principal: Principal, party: str | None, vector: NDArray[np.float32]
    ) -> list[dup.Duplicate]:
        visible_all, visible_country = access.visible_need_scope(principal)
        parties: tuple[str, ...] = ()
        if party is not None:
            parties = tuple(sorted(vocab.countries_in(vocab.countries()[party].sub_region) | {party}))
        listing = NeedListing(visible_all=visible_all, visible_country=visible_country, parties=parties)
        records = need_texts(session, listing, exclude_statuses=("withdrawn",))
        return dup.closest(vector, records, self._vectors(self._needs, records), threshold=dup.THRESHOLD)

    def similar_offers(
        self, session: Session, principal: Principal, organisation_id: int, draft: Draft
    ) -> list[dup.Duplicate]:
        """The organisation's offers nearly identical to a new offer (for its providers and the secretariat)."""
        access.check_create_offer(principal, organisation_id)
        records = offer_texts(session, OfferListing(visible_all=True, organisation_id=organisation_id))
        vector = self.embed_drafts([draft.text])[0]
        return dup.closest(vector, records, self._vectors(self._offers, records), threshold=dup.THRESHOLD)

    def _vectors(self, cache: _Vectors, records: Sequence[RecordText]) -> NDArray[np.float32]:
        """The records' embeddings, in order (from memory; the stale or missing ones through the store)."""
        stale = [r for r in records if cache.by_id.get(r.id, (None,))[0] != r.version]
        if stale:
            vectors, _ = self.store.get([draft_text(r.title, r.description) for r in stale])
            vectors = l2_normalise(vectors)
            with self._lock:
                for r, v in zip(stale, vectors, strict=True):
                    cache.by_id[r.id] = (r.version, v)
        out = np.empty((len(records), self.store.dim), dtype=np.float32)
        for i, r in enumerate(records):
            out[i] = cache.by_id[r.id][1]
        return out


def saved_models_path(settings: Settings) -> Path:
    """Where ``pollinate assist train`` saves the fitted models and the services read them."""
    return settings.data_dir / "assist" / "suggestions.npz"
