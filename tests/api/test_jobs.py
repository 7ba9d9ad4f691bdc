"""``/v1/jobs`` over HTTP: queue, follow, diffs, cancel and retry; staff only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from matcher.cli.worker import DeliveryWorker
from tests.api.conftest import Api, start_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from start_api(tmp_path_factory.mktemp("jobs"))


def run_worker(api: Api) -> int:
    """What `pollinate worker` does for jobs (its model is the app's fake embedder's: hashing at 64 dims is
    not configurable, so the worker builds its own service from settings with the hashing model)."""
    settings = api.settings.model_copy(
        update={"embedding": api.settings.embedding.model_copy(update={"model": "hashing"})}
    )
    return DeliveryWorker(api.db, settings).run_jobs()


def test_a_rerank_job_over_http(api: Api) -> None:
    posted = api.post("secretariat", "/v1/jobs", json={"kind": "rerank_all", "assignment": {"per_need": 2}})
    assert posted.status_code == 201, posted.text
    job = posted.json()
    assert (job["status"], job["done"], job["progress"]) == ("queued", 0, None)
    assert posted.headers["Location"] == f"/v1/jobs/{job['id']}"

    assert run_worker(api) >= 1
    done = api.get("secretariat", f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded"
    assert done["done"] == done["total"] > 0 and done["progress"] == 1.0
    assert done["result"]["assignment"]["pairs"]
    diffs = api.get("admin", f"/v1/jobs/{job['id']}/diffs", params={"changed": True, "limit": 200}).json()
    assert diffs["total"] >= 1
    assert all(d["changed"] for d in diffs["items"])
    listed = api.get("secretariat", "/v1/jobs", params={"status": "succeeded"}).json()
    assert job["id"] in {j["id"] for j in listed["items"]}


def test_cancel_and_retry(api: Api) -> None:
    job = api.post("admin", "/v1/jobs", json={"kind": "reembed"}).json()
    cancelled = api.post("admin", f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = api.post("admin", f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    retried = api.post("admin", f"/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    run_worker(api)
    assert api.get("admin", f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "rerank_needs"}, "need_ids"),
        ({"kind": "rerank_needs", "need_ids": [2_000_000_000]}, "need_ids"),
        ({"kind": "reembed", "assignment": {}}, "assignment"),
        ({"kind": "everything"}, "kind"),
        ({"kind": "rerank_all", "surprise": 1}, "surprise"),
    ],
)
def test_bad_jobs_are_refused_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    response = api.post("secretariat", "/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert field in (response.json()["field"] or "")


@pytest.mark.parametrize("role", ["party_ken", "provider_a"])
def test_only_the_staff_run_jobs(api: Api, role: str) -> None:
    assert api.post(role, "/v1/jobs", json={"kind": "rerank_all"}).status_code == 403
    assert api.get(role, "/v1/jobs").status_code == 403
    assert api.post("anonymous", "/v1/jobs", json={"kind": "rerank_all"}).status_code == 401


def test_a_saturated_model_answers_503_with_retry_after(api: Api) -> None:
    from embeddings.batching import SaturatedError

    service = api.client.app.state.services.service  # type: ignore[attr-defined]
    original = service.store.embedder

    class Saturated:
        model_id, dim = original.model_id, original.dim

        def embed(self, texts: object) -> object:
            raise SaturatedError("64 embedding requests are already waiting; try again shortly", retry_after=1)

    service.store.embedder = Saturated()
    try:
        response = api.post(
            "party_ken", "/v1/match", json={"text": "a text never embedded before: mangroves " * 2}
        )
    finally:
        service.store.embedder = original
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"] == "busy"
