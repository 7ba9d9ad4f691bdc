"""Writing an evaluation out: metrics.json, details.json, per_need.csv, report.md and two plots.

- ``metrics.json``: exactly ``{"dataset", "n_needs", "n_offers", "model", "configs": {NAME: {measure: value}},
  "default"}`` (the shape other tools read; nothing else is added to it).
- ``details.json``: what does not fit that shape: confidence intervals, paired differences with the default
  ranker, breakdowns by need language and for needle needs, configuration descriptions, timings.
- ``per_need.csv``: one row per scored need and configuration: nDCG@10 and the rank of the need's best offer.
- ``report.md``: the tables, the ablation, the breakdowns, and the ten worst needs with their top three results
  and the offers they should have found.
- ``metrics_by_config.png`` (mean nDCG@10 with its 95% interval, per configuration) and ``per_need_ndcg.png``
  (the distribution of per-need nDCG@10, per configuration).
- ``calibration.json`` and ``reliability.png``: the fit-verdict calibration measured on held-out needs
  (``evaluation.calibration``): calibration errors, the reliability table of each method, the verdicts' counts
  and relevance rates, the weak-topical flag, and the calibration fitted on the whole set. Without a
  calibration study (a gold set with no relevant pair in the top 20) both are absent and the report says why.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never a window, whatever the environment says

import matplotlib.pyplot as plt

from evaluation.calibration import BINS, FIT_DEPTH, SHOWN, CalibrationStudy, reliability
from evaluation.harness import DEFAULT_CONFIG, HEADLINE, MEASURES, ConfigRun, Evaluation, Interval

__all__ = ["OUTPUT_FILES", "details", "markdown", "write_outputs"]

OUTPUT_FILES = (
    "metrics.json",
    "details.json",
    "per_need.csv",
    "report.md",
    "metrics_by_config.png",
    "per_need_ndcg.png",
)
CALIBRATION_FILES = ("calibration.json", "reliability.png")
WORST = 10


def write_outputs(evaluation: Evaluation, out: Path) -> dict[str, Path]:
    """Write every output file into ``out`` (created if needed); returns ``file name -> path``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in OUTPUT_FILES}
    _write_text(paths["metrics.json"], json.dumps(evaluation.metrics_json(), indent=2) + "\n")
    _write_text(paths["details.json"], json.dumps(details(evaluation), indent=2) + "\n")
    _write_per_need(evaluation, paths["per_need.csv"])
    _write_text(paths["report.md"], markdown(evaluation))
    _plot_metrics(evaluation, paths["metrics_by_config.png"])
    _plot_per_need(evaluation, paths["per_need_ndcg.png"])
    if evaluation.calibration is not None:
        paths |= {name: out / name for name in CALIBRATION_FILES}
        _write_text(paths["calibration.json"], json.dumps(evaluation.calibration.as_json(), indent=2) + "\n")
        _plot_reliability(evaluation.calibration, evaluation.gold.name, paths["reliability.png"])
    return paths


def _write_text(path: Path, text: str) -> None:
    """Write through a temporary file, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def details(evaluation: Evaluation) -> dict[str, Any]:
    """Everything measured beyond ``metrics.json``."""
    gold = evaluation.gold
    return {
        "dataset": gold.name,
        "created": evaluation.created,
        "model": evaluation.model,
        "default": evaluation.default,
        "n_needs_scored": len(gold.judged_needs),
        "n_judgements": len(gold.judgements),
        "needle_needs": sorted(gold.needle_needs),
        "depth": evaluation.depth,
        "bootstrap_resamples": evaluation.bootstrap_resamples,
        "warnings": gold.warnings,
        "configs": {
            name: {
                "description": run.config.description,
                "region_filter": run.config.region_filter,
                "ranking": run.config.ranking.model_dump(),
                "metrics": run.metrics,
                f"{HEADLINE} 95% CI": run.ci.as_dict() if run.ci else None,
                f"{HEADLINE} default minus this": run.versus_default.as_dict() if run.versus_default else None,
                "by_language": run.by_language,
                "needles": run.needles,
                "ranking_seconds": run.seconds,
            }
            for name, run in evaluation.runs.items()
        },
        "seconds": evaluation.seconds,
    }


def _write_per_need(evaluation: Evaluation, path: Path) -> None:
    gold = evaluation.gold
    language = {n.id: n.language for n in gold.needs}
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["need_id", "config", "nDCG@10", "best_offer_rank", "best_grade", "language", "needle"])
        for name, run in evaluation.runs.items():
            for need_id in gold.judged_needs:
                rank = evaluation.best_rank(name, need_id)
                writer.writerow(
                    [
                        need_id,
                        name,
                        f"{run.per_need[need_id][HEADLINE]:.6f}",
                        "" if rank is None else rank,
                        max(gold.grades[need_id].values()),
                        language[need_id],
                        int(need_id in gold.needle_needs),
                    ]
                )
    tmp.replace(path)


# ------------------------------------------------------------------------------------------- markdown


def _f(value: float) -> str:
    return f"{value:.3f}"


def _interval(interval: Interval | None) -> str:
    return "" if interval is None else f"[{_f(interval.low)}, {_f(interval.high)}]"


def _difference(interval: Interval | None) -> str:
    if interval is None:
        return "—"
    p = "" if interval.p_value is None else f" (p={interval.p_value:.2g})"
    return f"{interval.estimate:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}]{p}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(evaluation: Evaluation) -> str:
    """The human report (see the module docstring)."""
    gold = evaluation.gold
    runs = evaluation.runs
    default = runs[evaluation.default]
    ci = _interval(default.ci)
    parts = [
        f"# Ranking quality on `{gold.name}`",
        "",
        f"{len(gold.needs)} needs ({len(gold.judged_needs)} with judgements,"
        f" {len(gold.needle_needs)} needle needs),"
        f" {len(gold.offers)} offers, {len(gold.judgements)} judgements; model `{evaluation.model}`;"
        f" each need ranked to depth {evaluation.depth}; {evaluation.created}.",
        "",
        f"**Default ranker (`{evaluation.default}`): {HEADLINE} = {_f(default.metrics[HEADLINE])}**"
        + (
            f" (95% CI {ci}, BCa bootstrap over needs, {evaluation.bootstrap_resamples:,} resamples)."
            if ci
            else "."
        ),
        "",
        *(f"> {w}" for w in gold.warnings),
        "## All configurations",
        "",
        _table(
            ["config", *MEASURES, f"{HEADLINE} 95% CI", f"default − config ({HEADLINE}, 95% CI, Wilcoxon p)"],
            [
                [
                    f"**{name}**" if name == evaluation.default else name,
                    *(_f(run.metrics[m]) for m in MEASURES),
                    _interval(run.ci),
                    _difference(run.versus_default),
                ]
                for name, run in runs.items()
            ],
        ),
        "",
        _descriptions(runs),
        "",
    ]
    ablations = {name: run for name, run in runs.items() if name.startswith(f"{DEFAULT_CONFIG}-")}
    if ablations:
        parts += [
            "## Ablation: the default ranker with one part removed",
            "",
            "A positive difference means the part helps (the default ranker scores that much more with it).",
            "",
            _table(
                ["removed", f"{HEADLINE}", f"default − ablated {HEADLINE} (95% CI, p)", "MRR@10", "R@10"],
                [
                    [
                        name.removeprefix(f"{DEFAULT_CONFIG}-"),
                        _f(run.metrics[HEADLINE]),
                        _difference(run.versus_default),
                        _f(run.metrics["MRR@10"]),
                        _f(run.metrics["R@10"]),
                    ]
                    for name, run in ablations.items()
                ],
            ),
            "",
        ]
    languages = sorted({lang for run in runs.values() for lang in run.by_language})
    counts = {lang: sum(1 for n in gold.needs if n.language == lang and n.id in gold.grades) for lang in languages}
    parts += [
        f"## {HEADLINE} by need language" + (" and on needle needs" if gold.needle_needs else ""),
        "",
        "Needle needs have exactly one good answer (one offer graded 2 or more).",
        "",
        _table(
            ["config", *(f"{lang} (n={counts[lang]})" for lang in languages)]
            + ([f"needles (n={len(gold.needle_needs)})"] if gold.needle_needs else []),
            [
                [
                    name,
                    *(
                        _f(run.by_language[lang][HEADLINE]) if lang in run.by_language else ""
                        for lang in languages
                    ),
                    *([_f(run.needles[HEADLINE])] if gold.needle_needs else []),
                ]
                for name, run in runs.items()
            ],
        ),
        "",
        _calibration(evaluation),
        "",
        _worst(evaluation),
        "",
        "## Definitions",
        "",
        "- A judgement of grade 1 or more counts as relevant for MRR, recall, precision and MAP; nDCG uses the "
        "grades as gains (ir-measures). Unjudged offers are grade 0.",
        f"- MAP is computed over the top {evaluation.depth} results of each need.",
        "- Confidence intervals resample needs (BCa bootstrap, 95%); differences are paired by need.",
        "- Plots: `metrics_by_config.png`, `per_need_ndcg.png`; per-need values: `per_need.csv`.",
        "",
    ]
    return "\n".join(parts)


def _rate(value: float) -> str:
    return "—" if value != value else f"{value:.2f}"  # NaN: no pair


def _calibration(evaluation: Evaluation) -> str:
    """The fit verdicts' calibration on this gold set: errors, reliability table, verdicts, weak topical fit."""
    study = evaluation.calibration
    title = "## Fit verdicts: calibration"
    if study is None:
        return f"{title}\n\nNo calibration study: {evaluation.calibration_problem}\n"
    pairs, shown = study.pairs, study.shown()
    errors = study.errors()
    columns = list(next(iter(errors.values())))
    lines = [
        title,
        "",
        f"Probability that an offer is graded 2 or more, from the score components of `{evaluation.default}`'s "
        f"top {FIT_DEPTH} per need ({len(pairs)} pairs, {int(pairs.relevant.sum())} relevant), held out by "
        f"need ({study.folds}-fold GroupKFold: a need's judgements never calibrate themselves). ECE: expected "
        f"calibration error over {BINS} equal-width bins, on the top {SHOWN} (what a page shows) and the top "
        f"{FIT_DEPTH}. `min-max` is the score rescaled to [0, 1]; `shipped` is "
        "`matcher/data/fit_calibration.json` as is (a true test only on a set it was not fitted on).",
        "",
        _table(
            ["method", *columns],
            [[name, *(_f(values[c]) for c in columns)] for name, values in errors.items()],
        ),
        "",
        f"Reliability of the held-out probabilities on the top {SHOWN} (`reliability.png`): per bin, pairs, "
        "mean predicted probability and share relevant.",
        "",
    ]
    y = pairs.relevant[shown]
    per_method = {name: reliability(p[shown], y) for name, p in study.held_out.items()}
    rows = []
    for b in range(BINS):
        cells = [f"{b / BINS:.1f}–{(b + 1) / BINS:.1f}"]
        for name in study.held_out:
            found = [r for r in per_method[name] if abs(r["low"] - b / BINS) < 1e-9]
            cells.append(
                f"{found[0]['pairs']}: {found[0]['mean_probability']:.2f} → {found[0]['relevant_rate']:.2f}"
                if found
                else ""
            )
        rows.append(cells)
    lines += [_table(["bin", *study.held_out], rows), ""]
    verdicts = study.verdicts()
    shipped = study.verdicts(shipped=True) if study.shipped is not None else {}
    topical = study.topical()
    lines += [
        f"Verdicts on the top {SHOWN} (thresholds 0.75 / 0.5 / 0.25; a weak topical fit is never `strong`), by "
        "the held-out logistic calibration and by the shipped one:",
        "",
        _table(
            [
                "verdict",
                "pairs",
                "share relevant",
                *(["pairs (shipped)", "share relevant (shipped)"] * bool(shipped)),
            ],
            [
                [
                    name,
                    str(int(v["pairs"])),
                    _rate(v["relevant_rate"]),
                    *(
                        [str(int(shipped[name]["pairs"])), _rate(shipped[name]["relevant_rate"])]
                        if shipped
                        else []
                    ),
                ]
                for name, v in verdicts.items()
            ],
        ),
        "",
        f"Weak topical fit (targets and geography fit, semantic + lexical components below "
        f"{topical['threshold']:.3f}, threshold refitted in each fold): {topical['flagged']} of the top "
        f"{FIT_DEPTH} pairs flagged, {_rate(topical['flagged_relevant_rate'])} of them relevant (against "
        f"{_rate(topical['structural_unflagged_relevant_rate'])} of the structurally fitting pairs not flagged); "
        f"{topical['relevant_flagged']} of the {topical['relevant']} relevant pairs are flagged.",
        "",
    ]
    return "\n".join(lines)


def _descriptions(runs: dict[str, ConfigRun]) -> str:
    return "\n".join(f"- `{name}`: {run.config.description}" for name, run in runs.items())


def _worst(evaluation: Evaluation) -> str:
    gold = evaluation.gold
    run = evaluation.runs[evaluation.default]
    titles = {o.id: f"{o.title} ({o.organisation})" for o in gold.offers}
    needs = {n.id: n for n in gold.needs}
    worst = sorted(gold.judged_needs, key=lambda n: (run.per_need[n][HEADLINE], n))[:WORST]
    lines = [f"## The {len(worst)} worst needs for `{evaluation.default}`", ""]
    for need_id in worst:
        need = needs[need_id]
        grades = gold.grades[need_id]
        ranks = {offer_id: rank for rank, (offer_id, _) in enumerate(run.rankings[need_id], start=1)}
        lines += [
            f"### {need_id}: {need.title}",
            "",
            f"{HEADLINE} {_f(run.per_need[need_id][HEADLINE])}; {need.party}, {need.region}, language "
            f"`{need.language}`, targets {', '.join(map(str, need.targets))}"
            + ("; needle need" if need_id in gold.needle_needs else ""),
            "",
            "Top 3:",
            "",
        ]
        for rank, (offer_id, score) in enumerate(run.rankings[need_id][:3], start=1):
            lines.append(
                f"{rank}. `{offer_id}` {titles.get(offer_id, '?')} — score {score:.3f},"
                f" grade {grades.get(offer_id, 0)}"
            )
        expected = sorted((o for o, g in grades.items() if g > 0), key=lambda o: (-grades[o], o))
        lines += ["", "Should have found:", ""]
        for offer_id in expected:
            where = f"rank {ranks[offer_id]}" if offer_id in ranks else f"not in the top {evaluation.depth}"
            lines.append(f"- `{offer_id}` (grade {grades[offer_id]}) {titles[offer_id]} — {where}")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ plots


def _plot_metrics(evaluation: Evaluation, path: Path) -> None:
    runs = list(evaluation.runs.items())
    names = [name for name, _ in runs]
    values = [run.metrics[HEADLINE] for _, run in runs]
    low = [run.metrics[HEADLINE] - (run.ci.low if run.ci else run.metrics[HEADLINE]) for _, run in runs]
    high = [(run.ci.high if run.ci else run.metrics[HEADLINE]) - run.metrics[HEADLINE] for _, run in runs]
    colours = ["tab:green" if name == evaluation.default else "tab:blue" for name in names]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    positions = list(range(len(names)))[::-1]
    ax.barh(positions, values, xerr=[low, high], color=colours, capsize=3, alpha=0.85)
    for y, run in zip(positions, (r for _, r in runs), strict=True):
        ax.plot(run.metrics["MRR@10"], y, "k|", markersize=10)
    ax.set_yticks(positions, names)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"mean {HEADLINE} (bars, 95% CI) and MRR@10 (|)")
    ax.set_title(f"{evaluation.gold.name}: ranking quality by configuration")
    ax.axvline(
        evaluation.runs[evaluation.default].metrics[HEADLINE], color="tab:green", linestyle=":", linewidth=1
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_per_need(evaluation: Evaluation, path: Path) -> None:
    gold = evaluation.gold
    runs = list(evaluation.runs.items())
    data = [[run.per_need[n][HEADLINE] for n in gold.judged_needs] for _, run in runs]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(runs) + 1.5))
    positions = list(range(1, len(runs) + 1))[::-1]
    ax.boxplot(data, positions=positions, orientation="horizontal", widths=0.6, showmeans=True, showfliers=False)
    for y, values in zip(positions, data, strict=True):
        jitter = [y + 0.15 * ((i * 7919) % 11 - 5) / 5 for i in range(len(values))]  # deterministic spread
        ax.scatter(values, jitter, s=6, alpha=0.35, color="tab:blue")
    ax.set_yticks(positions, [name for name, _ in runs])
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(f"per-need {HEADLINE} ({len(gold.judged_needs)} needs; triangle = mean)")
    ax.set_title(f"{gold.name}: distribution of per-need {HEADLINE}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_reliability(study: CalibrationStudy, name: str, path: Path) -> None:
    shown = study.shown()
    y = study.pairs.relevant[shown]
    curves = dict(study.held_out)
    if study.shipped is not None:
        curves["shipped"] = study.shipped
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    for method, probabilities in curves.items():
        rows = reliability(probabilities[shown], y)
        ax.plot(
            [r["mean_probability"] for r in rows],
            [r["relevant_rate"] for r in rows],
            marker="o",
            label=f"{method} (ECE {study.errors()[method][f'ECE@{SHOWN}']:.3f})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"predicted probability of grade >= 2 (held out by need; {BINS} bins)")
    ax.set_ylabel("share of pairs graded >= 2")
    ax.set_title(f"{name}: reliability of the fit probabilities, top {SHOWN} per need")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
