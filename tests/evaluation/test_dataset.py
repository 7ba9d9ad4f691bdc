"""Gold sets load with every problem reported by file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evaluation.dataset import GoldSetError, load_gold_set
from matcher.data import DEMO_DIR
from models import vocabularies as vocab
from tests.factories import replace_line


@pytest.fixture
def gold_dir(tmp_path: Path) -> Path:
    """A writable copy of the bundled demo corpus (a gold set in the dev set's format)."""
    target = tmp_path / "gold"
    target.mkdir()
    for name in ("needs.jsonl", "offers.jsonl", "qrels.tsv"):
        shutil.copy(DEMO_DIR / name, target / name)
    return target


def problems(path: Path) -> list[str]:
    with pytest.raises(GoldSetError) as info:
        load_gold_set(path)
    return info.value.problems


def test_the_demo_corpus_is_a_valid_gold_set(gold_dir: Path) -> None:
    gold = load_gold_set(gold_dir)
    qrels_rows = len((gold_dir / "qrels.tsv").read_text(encoding="utf-8").splitlines()) - 1
    assert gold.name == "gold"
    assert (len(gold.needs), len(gold.offers), len(gold.judgements)) == (42, 172, qrels_rows)
    assert set(gold.grades) <= {n.id for n in gold.needs}
    assert all(gold.grades[n] for n in gold.judged_needs)


def test_the_dev_set_needles_match_its_readme(shared_dev: Path) -> None:
    gold = load_gold_set(shared_dev)
    assert (len(gold.needs), len(gold.offers), len(gold.judgements)) == (50, 200, 217)
    assert gold.needle_needs == {"N013", "N019", "N021", "N022", "N049"}
    assert len(gold.judged_needs) == 50 and not gold.warnings


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("demo-n001\tdemo-o002\tthree", "qrels.tsv:4: grade 'three' is not an integer"),
        ("demo-n001\tdemo-o002", "qrels.tsv:4: expected 3 tab-separated fields"),
        ("demo-n001 demo-o002 3", "qrels.tsv:4: expected 3 tab-separated fields"),
        ("demo-n001\tdemo-o999\t2", "qrels.tsv:4: unknown offer id 'demo-o999' (not in offers.jsonl)"),
        ("demo-n999\tdemo-o002\t2", "qrels.tsv:4: unknown need id 'demo-n999' (not in needs.jsonl)"),
        ("demo-n001\tdemo-o002\t-1", "qrels.tsv:4: grade -1 is negative"),
    ],
)
def test_a_broken_qrels_line_fails_with_its_line_number(gold_dir: Path, line: str, expected: str) -> None:
    replace_line(gold_dir / "qrels.tsv", 4, line)
    found = problems(gold_dir)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_duplicate_judgements_and_a_wrong_header_are_reported(gold_dir: Path) -> None:
    qrels = gold_dir / "qrels.tsv"
    lines = qrels.read_text(encoding="utf-8").splitlines()
    lines[0] = "need\toffer\tgrade"
    lines.append(lines[1])
    qrels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems(gold_dir)
    assert found[0].startswith("qrels.tsv:1: expected the header need_id<TAB>offer_id<TAB>grade")
    pair = lines[1].split("\t")
    assert found[1] == f"qrels.tsv:{len(lines)}: pair ({pair[0]}, {pair[1]}) already judged on line 2"


def test_every_bad_record_is_reported_with_its_file_and_line(gold_dir: Path) -> None:
    needs = gold_dir / "needs.jsonl"
    first = needs.read_text(encoding="utf-8").splitlines()[0]
    replace_line(needs, 2, first.replace('"language": "', '"language": "xx').replace('"party": "', '"party": "Q'))
    replace_line(gold_dir / "offers.jsonl", 5, "{not json")
    found = problems(gold_dir)
    assert found[0].startswith("needs.jsonl:2: ") and "party" in found[0] and "language" in found[0]
    assert found[1].startswith("offers.jsonl:5: invalid JSON")
    # Ids cannot be checked against unreadable files: the qrels are not flooded with follow-on errors.
    assert len(found) == 2


def test_a_duplicate_need_id_is_reported(gold_dir: Path) -> None:
    needs = gold_dir / "needs.jsonl"
    lines = needs.read_text(encoding="utf-8").splitlines()
    needs.write_text("\n".join([*lines, lines[0]]) + "\n", encoding="utf-8")
    assert problems(gold_dir) == [f"needs.jsonl:{len(lines) + 1}: duplicate id 'demo-n001' (first used on line 1)"]


def test_missing_files_and_directories_are_named(gold_dir: Path, tmp_path: Path) -> None:
    (gold_dir / "qrels.tsv").unlink()
    assert problems(gold_dir) == [f"{gold_dir / 'qrels.tsv'}: missing"]
    assert "not a directory" in problems(tmp_path / "nowhere")[0]


def test_a_gold_set_without_positive_judgements_cannot_be_scored(gold_dir: Path) -> None:
    (gold_dir / "qrels.tsv").write_text("need_id\toffer_id\tgrade\ndemo-n001\tdemo-o001\t0\n", encoding="utf-8")
    assert "no judgement with a grade above 0" in problems(gold_dir)[0]


def test_unjudged_needs_are_a_warning_not_an_error(gold_dir: Path) -> None:
    qrels = gold_dir / "qrels.tsv"
    lines = qrels.read_text(encoding="utf-8").splitlines()
    qrels.write_text("\n".join(line for line in lines if not line.startswith("demo-n001\t")) + "\n", "utf-8")
    gold = load_gold_set(gold_dir)
    assert "demo-n001" not in gold.judged_needs
    assert gold.warnings == ["1 need(s) have no judgement above grade 0; they are ranked but not scored"]


def test_many_problems_are_capped_with_a_count(gold_dir: Path) -> None:
    qrels = gold_dir / "qrels.tsv"
    bad = "".join(f"demo-n001\tnope-{i}\t1\n" for i in range(70))
    qrels.write_text("need_id\toffer_id\tgrade\n" + bad, encoding="utf-8")
    with pytest.raises(GoldSetError) as info:
        load_gold_set(gold_dir)
    assert len(info.value.problems) == 50
    assert str(info.value).endswith("... and 20 more")
    assert "(70 problem(s))" in str(info.value)


def test_a_region_that_disagrees_with_our_m49_table_is_a_warning(gold_dir: Path) -> None:
    needs = gold_dir / "needs.jsonl"
    lines = needs.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[2])
    expected = vocab.countries()[row["party"]].sub_region
    other = next(area for area in vocab.sub_regions() if area != expected)
    replace_line(needs, 3, json.dumps({**row, "region": other}))
    gold = load_gold_set(gold_dir)
    assert gold.needs[2].region == expected
    assert gold.warnings == [
        f"needs.jsonl:3: region {other!r} does not match party {row['party']}, which is in {expected!r} "
        f"(the region can be left out); using {expected!r}"
    ]
    # Any other fault on the same line is still an error.
    replace_line(needs, 3, json.dumps({**row, "region": other, "language": "xx"}))
    assert problems(gold_dir)[0].startswith("needs.jsonl:3: ")
