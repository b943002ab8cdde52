"""Accuracy of the eligibility facts against hand labels (ELIGIBILITY_LABELS.jsonl, one JSON object a line).

One scoring function, :func:`evaluate`, used by ``benchmarks/eligibility.py`` and by
``tests/test_eligibility_quality.py``; they say where the labels and the studies are. Scalars
(``max_ecog``, ``prior_allo_hct``, ``max_prior_lines``) are scored by accuracy, on every labelled study
and on the studies whose label states a value; sets by micro-averaged F1 over (study, key) pairs.
Each score stands beside the "nothing extracted" baseline (every fact null / not_stated / empty).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .eligibility import SCALAR_FIELDS, SET_FIELDS, Eligibility, extract
from .evaluation import PRF

Extractor = Callable[[str], Eligibility]


@dataclass(frozen=True)
class ScalarScore:
    correct: int
    n: int
    stated_correct: int  # on the studies whose label states a value
    stated_n: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 1.0

    @property
    def stated_accuracy(self) -> float:
        return self.stated_correct / self.stated_n if self.stated_n else 1.0


@dataclass
class EligibilityReport:
    n: int
    scalars: dict[str, ScalarScore]
    sets: dict[str, PRF]
    errors: list[dict[str, Any]] = field(default_factory=list)


def load_labels(path: Path) -> dict[str, dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return {row["nct_id"]: row for row in map(json.loads, filter(str.strip, fh))}


def load_criteria(snapshot_dir: Path, ids: Mapping[str, Any]) -> dict[str, str]:
    """The eligibility criteria text of each labelled study, from its ``<NCT>.json`` record."""
    out = {}
    for nct in ids:
        record = json.loads((snapshot_dir / f"{nct}.json").read_text(encoding="utf-8"))
        module = record.get("protocolSection", {}).get("eligibilityModule", {})
        out[nct] = module.get("eligibilityCriteria") or ""
    return out


def _unstated(name: str, value: Any) -> bool:
    return value is None or value == "not_stated"


def evaluate(criteria: Mapping[str, str], labels: Mapping[str, Mapping[str, Any]],
             extractor: Extractor | None = None) -> EligibilityReport:
    """Score ``extractor`` (default: :func:`extract`; ``lambda t: Eligibility()`` is the baseline)."""
    run = extractor or extract
    counts = {name: [0, 0, 0, 0] for name in SCALAR_FIELDS}
    pairs = {name: [0, 0, 0] for name in SET_FIELDS}
    errors = []
    for nct, label in labels.items():
        got = run(criteria[nct]).facts()
        wrong = {}
        for name in SCALAR_FIELDS:
            ok = got[name] == label[name]
            stated = not _unstated(name, label[name])
            c = counts[name]
            c[0] += ok
            c[1] += 1
            c[2] += ok and stated
            c[3] += stated
            if not ok:
                wrong[name] = (label[name], got[name])
        for name in SET_FIELDS:
            want, have = set(label[name]), set(got[name])
            p = pairs[name]
            p[0] += len(want & have)
            p[1] += len(have - want)
            p[2] += len(want - have)
            if want != have:
                wrong[name] = (sorted(want), sorted(have))
        if wrong:
            errors.append({"nct_id": nct, "wrong": wrong})
    return EligibilityReport(
        n=len(labels),
        scalars={k: ScalarScore(*v) for k, v in counts.items()},
        sets={k: PRF(*v) for k, v in pairs.items()},
        errors=errors,
    )


def format_report(report: EligibilityReport, baseline: EligibilityReport) -> str:
    lines = [f"eligibility facts on {report.n} hand-labelled studies (baseline: nothing extracted)", ""]
    lines.append(f"{'field':<26} {'accuracy':>9} {'baseline':>9}   {'on stated':>10} {'baseline':>9}  n stated")
    for name, s in report.scalars.items():
        b = baseline.scalars[name]
        lines.append(f"{name:<26} {s.accuracy:>9.3f} {b.accuracy:>9.3f}   {s.stated_accuracy:>10.3f} "
                     f"{b.stated_accuracy:>9.3f}  {s.stated_n:>8}")
    lines += ["", f"{'field':<26} {'micro-F1':>9} {'baseline':>9}   {'precision':>10} {'recall':>9}  tp/fp/fn"]
    for name, prf in report.sets.items():
        lines.append(f"{name:<26} {prf.f1:>9.3f} {baseline.sets[name].f1:>9.3f}   {prf.precision:>10.3f} "
                     f"{prf.recall:>9.3f}  {prf.tp}/{prf.fp}/{prf.fn}")
    return "\n".join(lines)
