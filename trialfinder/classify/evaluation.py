"""Accuracy of the classifier against hand labels (a LABELS.jsonl file, one JSON object a line).

One scoring function, :func:`evaluate`, used by ``benchmarks/classification.py`` and by
``tests/test_classification_quality.py``; they say where the labels and the studies are (the package
itself reads nothing outside it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..source.facts import StudyFacts
from ..source.normalize import study_facts
from .biomarkers import biomarkers
from .categories import CATEGORY_KEYS, classify
from .disease_setting import disease_setting, disease_setting_evidence


@dataclass(frozen=True)
class PRF:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    n: int
    categories: dict[str, PRF]
    rr_accuracy: float
    rr_n: int
    nd_accuracy: float
    nd_n: int
    biomarkers: PRF
    seconds_per_study: float
    errors: list[dict[str, Any]] = field(default_factory=list)


def load_labels(path: Path) -> dict[str, dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return {row["nct_id"]: row for row in map(json.loads, filter(str.strip, fh))}


def load_studies(folder: Path) -> list[StudyFacts]:
    return [study_facts(json.loads(p.read_text(encoding="utf-8"))) for p in sorted(folder.glob("NCT*.json"))]


def _prf(pairs: list[tuple[set[str], set[str]]], key: str | None = None) -> PRF:
    tp = fp = fn = 0
    for expected, got in pairs:
        e, g = (expected, got) if key is None else ({key} & expected, {key} & got)
        tp, fp, fn = tp + len(e & g), fp + len(g - e), fn + len(e - g)
    return PRF(tp, fp, fn)


def evaluate(facts: list[StudyFacts], labels: dict[str, dict[str, Any]]) -> Report:
    """Classify every labelled study and score categories, setting and biomarkers."""
    studies = [f for f in facts if f.nct_id in labels]
    start = time.perf_counter()
    results = []
    for f in studies:
        cls = classify(f)
        results.append((f, cls, disease_setting(f), biomarkers(f, cls)))
    seconds = (time.perf_counter() - start) / max(1, len(studies))

    cat_pairs, bio_pairs, errors = [], [], []
    rr = [0, 0]
    nd = [0, 0]
    for f, cls, setting, bio in results:
        lab = labels[f.nct_id]
        expected = set(lab["categories"]) or {"other"}
        got = set(cls.categories)
        cat_pairs.append((expected, got))
        bio_pairs.append((set(lab["biomarkers"]), set(bio)))
        row: dict[str, Any] = {"nct_id": f.nct_id, "title": f.title}
        if expected != got:
            row["categories"] = (sorted(expected), sorted(got))
        for _key, tally, name in ((rr, rr, "relapsed_refractory"), (nd, nd, "newly_diagnosed")):
            want = lab[name]
            if want in ("yes", "no"):
                ok = (want == "yes") == (name in setting)
                tally[0] += ok
                tally[1] += 1
                if not ok:
                    row[name] = (want, "yes" if name in setting else "no")
        if set(lab["biomarkers"]) != set(bio):
            row["biomarkers"] = (sorted(lab["biomarkers"]), sorted(bio))
        if len(row) > 2:
            row["evidence"] = cls.evidence
            row["disease_setting_evidence"] = disease_setting_evidence(f)
            row["confidence"] = lab.get("confidence", "")
            errors.append(row)
    return Report(
        n=len(studies),
        categories={k: _prf(cat_pairs, k) for k in (*CATEGORY_KEYS, "other")},
        rr_accuracy=rr[0] / rr[1] if rr[1] else 1.0, rr_n=rr[1],
        nd_accuracy=nd[0] / nd[1] if nd[1] else 1.0, nd_n=nd[1],
        biomarkers=_prf(bio_pairs),
        seconds_per_study=seconds,
        errors=errors,
    )


def format_report(report: Report) -> str:
    lines = [f"studies: {report.n}", "", f"{'category':<15}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}"]
    for key, prf in report.categories.items():
        lines.append(f"{key:<15}{prf.precision:>10.3f}{prf.recall:>8.3f}{prf.f1:>7.3f}{prf.tp + prf.fn:>9}")
    b = report.biomarkers
    lines += [
        "",
        f"relapsed_refractory accuracy: {report.rr_accuracy:.3f} (n={report.rr_n} labelled yes/no)",
        f"newly_diagnosed accuracy:     {report.nd_accuracy:.3f} (n={report.nd_n} labelled yes/no)",
        f"biomarkers micro P/R/F1:      {b.precision:.3f} / {b.recall:.3f} / {b.f1:.3f} (support {b.tp + b.fn})",
        f"time per study (classify + setting + biomarkers): {report.seconds_per_study * 1e6:.0f} µs",
    ]
    return "\n".join(lines)


def format_errors(report: Report) -> str:
    out = []
    for row in report.errors:
        out.append(f"{row['nct_id']} [{row['confidence']}] {str(row['title'])[:90]}")
        for key in ("categories", "relapsed_refractory", "newly_diagnosed", "biomarkers"):
            if key in row:
                want, got = row[key]
                out.append(f"    {key}: expected {want}  got {got}")
                if key in ("relapsed_refractory", "newly_diagnosed") and got == "yes":
                    out.append(f"      because: {row['disease_setting_evidence'].get(key, '')}")
        if "categories" in row:
            for cat, why in row["evidence"].items():
                out.append(f"      {cat}: {why[:160]}")
    return "\n".join(out)
