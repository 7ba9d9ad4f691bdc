"""The public pages over HTTP, as a browser without JavaScript sees them: what they show, what they never show,
their languages, their errors and their headers."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from models import vocabularies as vocab
from tests.web.conftest import CONFIDENTIAL_TITLE, PAUSED_TITLE, Site


def card_links(html: str, kind: str) -> list[int]:
    """Ids of the records the cards of a listing link to, in order."""
    return [int(i) for i in re.findall(rf'<h3 class="card__title"><a href="/{kind}/(\d+)">', html)]


def count_of(html: str, option_id: str) -> int:
    """The count shown beside a facet option."""
    match = re.search(
        rf'<label for="{re.escape(option_id)}">[^<]*<span class="facet__count">([\d,]+)</span>', html
    )
    assert match, f"no count for {option_id}"
    return int(match.group(1).replace(",", ""))


def total_of(html: str) -> int:
    match = re.search(r'<p class="results__count" role="status">\s*([\d,]+) ', html)
    assert match, "no result count"
    return int(match.group(1).replace(",", ""))


# ------------------------------------------------------------------------------------- what is shown


def test_home_counts_the_public_catalogue(site: Site) -> None:
    html = site.get("/").text
    figures = [int(f) for f in re.findall(r'<span class="stat__figure">(\d+)</span>', html)]
    # 42 demo needs + the fixture's public one (the confidential one is not counted); 172 demo offers, one
    # organisation each (the paused offer adds neither an offer nor a provider).
    assert figures[:3] == [43, 172, 172]
    assert figures[3] > 10


def test_confidential_need_is_nowhere_public(site: Site) -> None:
    assert site.get(f"/needs/{site.confidential_need}").status_code == 404
    assert site.get(f"/needs/{site.public_need}").status_code == 200
    for path in ("/", "/needs", "/needs?country=KEN", "/needs?q=seed+vault+inventory", "/needs?target=4"):
        response = site.get(path)
        assert response.status_code == 200, path
        assert CONFIDENTIAL_TITLE not in response.text, path
        assert f"/needs/{site.confidential_need}" not in response.text, path


def test_paused_offers_are_not_public(site: Site) -> None:
    assert site.get(f"/offers/{site.paused_offer}").status_code == 404
    for path in ("/offers", "/offers?q=herbarium+digitisation+scanner", f"/providers/{site.provider}"):
        assert PAUSED_TITLE not in site.get(path).text, path


def test_facet_counts_are_what_choosing_the_value_shows(site: Site) -> None:
    """A value's count equals the total of the listing with that value added to the other filters."""
    base = "/offers?type=training"
    html = site.get(base).text
    for option, extra in (
        ("f-target-3", "&target=3"),
        ("f-region-Africa", "&region=Africa"),
        ("f-language-fr", "&language=fr"),
    ):
        assert count_of(html, option) == total_of(site.get(base + extra).text), option
    # Within one facet, values add up ("any of"): the count of another type is the listing of that type alone.
    assert count_of(html, "f-type-funding") == total_of(site.get("/offers?type=funding").text)


def test_filters_narrow_the_listing(site: Site) -> None:
    everything = total_of(site.get("/offers").text)
    africa = site.get("/offers?region=Africa&target=6").text
    assert 0 < total_of(africa) < everything
    for offer_id in card_links(africa, "offers"):
        page = site.get(f"/offers/{offer_id}").text
        assert "Invasive alien species" in page


def test_listing_is_newest_first_and_paginated(site: Site) -> None:
    first = card_links(site.get("/needs").text, "needs")
    second = card_links(site.get("/needs?page=2").text, "needs")
    assert len(first) == 20 and len(second) == 20  # 43 public needs: 20, 20 and 3
    assert first == sorted(first, reverse=True) and first[-1] > second[0]


def test_search_ranks_offers_by_the_engine(site: Site) -> None:
    html = site.get("/offers", params={"q": "rats seabird eggs islands eradication"}).text
    assert "most relevant first" in html
    top = card_links(html, "offers")[0]
    assert "rat" in site.get(f"/offers/{top}").text.lower()


def test_search_keeps_the_filters_as_hard_filters(site: Site) -> None:
    html = site.get("/offers", params={"q": "training for rangers", "region": "Oceania", "type": "funding"}).text
    ids = card_links(html, "offers")
    assert ids
    for offer_id in ids:
        page = site.get(f"/offers/{offer_id}").text
        assert "Funding" in page


def test_provider_directory_lists_organisations_with_active_offers_and_public_fields(site: Site) -> None:
    html = site.get("/providers").text
    assert total_of(html) == 172
    page = site.get(f"/providers/{site.provider}")
    assert page.status_code == 200
    assert f"/offers/{site.active_offer}" in page.text
    assert "@" not in re.sub(r"<[^>]+>", "", page.text)  # no e-mail address anywhere on the page


def test_requesting_institutions_are_not_providers(site: Site) -> None:
    need = site.get(f"/needs/{site.public_need}").text
    assert "Government of Kenya" in need
    html = site.get("/providers", params={"q": "Government of Kenya"}).text
    assert total_of(html) == 0


# ---------------------------------------------------------------------------------------- languages


def test_accept_language_picks_french_with_french_target_titles(site: Site) -> None:
    html = site.get("/offers?target=6", headers={"Accept-Language": "de-CH, fr;q=0.8, en;q=0.5"}).text
    assert '<html lang="fr" dir="ltr">' in html
    assert "<h1>Offres d'appui</h1>" in html
    assert vocab.label("target", 6, "fr") == "Espèces exotiques envahissantes"
    assert "6. Espèces exotiques envahissantes" in html
    assert "Invasive alien species" not in html


def test_the_language_cookie_wins_over_accept_language(site: Site) -> None:
    switch = site.get("/language?lang=es&next=/needs%3Ftarget%3D6", follow_redirects=False)
    assert switch.status_code == 303 and switch.headers["location"] == "/needs?target=6"
    cookie = switch.headers["set-cookie"]
    assert cookie.startswith("lang=es;") and "samesite=lax" in cookie.lower() and "httponly" in cookie.lower()
    html = site.get("/needs?target=6", headers={"Accept-Language": "fr"}, cookies={"lang": "es"}).text
    assert '<html lang="es"' in html and "<h1>Necesidades</h1>" in html


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"])
def test_the_language_switch_never_redirects_off_site(site: Site, target: str) -> None:
    response = site.get("/language", params={"lang": "fr", "next": target}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_numbers_are_formatted_for_the_language(site: Site) -> None:
    # 172 has no group separator; the pager's page numbers and counts go through the same filter.
    html = site.get("/offers", headers={"Accept-Language": "es"}).text
    assert "172 ofertas, de la más reciente a la más antigua" in html


# ---------------------------------------------------------------------------------- errors and headers


def test_page_errors_are_html_in_the_readers_language_and_api_errors_stay_json(site: Site) -> None:
    missing = site.get("/offers/999999", headers={"Accept-Language": "fr"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Page introuvable" in missing.text
    bad = site.get("/offers?region=Atlantis", headers={"Accept-Language": "es"})
    assert bad.status_code == 422 and "No pudimos leer esta dirección" in bad.text
    assert "Región" in bad.text and "«Atlantis» no es un valor conocido." in bad.text
    bad_page = site.get("/needs?page=zero")
    assert bad_page.status_code == 422 and "<html" in bad_page.text
    api = site.get("/v1/offers/999999", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert site.get("/v1/offers?region=Atlantis").json()["field"] == "region"


def test_a_misspelt_filter_names_the_value_meant_in_the_readers_language(site: Site) -> None:
    bad = site.get("/offers?region=Afrique+de+l%27Oeust", headers={"Accept-Language": "fr"})
    assert bad.status_code == 422
    assert (
        "« Afrique de l&#39;Oeust » n&#39;est pas une valeur connue. Vouliez-vous dire Afrique de l&#39;Ouest"
        in bad.text
    )


def test_filters_accept_labels_in_any_language(site: Site) -> None:
    by_code = site.get("/offers?region=Western+Africa&type=training&language=fr")
    by_label = site.get("/offers?region=%C3%81frica+Occidental&type=Formation&language=fran%C3%A7ais")
    assert by_code.status_code == by_label.status_code == 200
    assert card_links(by_label.text, "offers") == card_links(by_code.text, "offers")
    assert total_of(by_label.text) == total_of(by_code.text) > 0


def test_the_api_still_refuses_anonymous_need_reads(site: Site) -> None:
    assert site.get("/v1/needs").status_code == 401
    assert site.get(f"/v1/needs/{site.public_need}").status_code == 401


def test_html_responses_carry_the_security_headers(site: Site) -> None:
    for path in ("/", "/offers", "/offers/999999"):
        headers = site.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_script_or_style(site: Site) -> None:
    for path in ("/", "/offers?type=training", f"/needs/{site.public_need}", "/providers"):
        html = site.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and " style=" not in html, path


def test_user_text_is_escaped(site: Site) -> None:
    html = site.get("/offers", params={"q": '<script>alert("x")</script>'}).text
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html


def test_htmx_requests_get_the_browsing_area_only(site: Site) -> None:
    partial = site.get("/offers?type=training", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="browse"') and "<html" not in partial.text
    assert "HX-Request" in partial.headers["vary"]
    restore = site.get(
        "/offers?type=training", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text


def test_pagination_links_keep_the_filters(site: Site) -> None:
    html = site.get("/offers?type=training").text
    hrefs = re.findall(r'<a class="pager__page" href="([^"]+)"', html)
    assert hrefs
    query = parse_qs(urlsplit(hrefs[-1].replace("&amp;", "&")).query)
    assert query["type"] == ["training"] and int(query["page"][0]) > 1


def test_docs_pages_load_only_local_assets(site: Site) -> None:
    for path in ("/docs", "/redoc"):
        html = site.get(path).text
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith("/") for s in sources), sources
        for source in sources:
            assert site.get(source).status_code == 200, source
