"""How well the vocabulary knows real records: the share of drug and biological intervention names no
rule recognises, and the rules that fire on exactly one study of a set (a sign of memorising).

Reads registry records in the three forms the registry has published them — API v2 JSON (one study or a
listing page), the classic XML (``<clinical_study>``) and the website's CSV export — so that
``benchmarks/classification.py`` can measure records the rules were never written from.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..source.facts import Intervention, StudyFacts
from ..source.normalize import study_facts
from .categories import classify
from .rules.vocabulary import Rule

DRUG_TYPES = frozenset({"DRUG", "BIOLOGICAL"})


@dataclass(frozen=True)
class Named:
    nct_id: str
    type: str  # API enum: DRUG, BIOLOGICAL…
    name: str
    other_names: tuple[str, ...] = ()


def _from_json(data: object) -> Iterator[StudyFacts]:
    if isinstance(data, dict) and isinstance(data.get("studies"), list):
        for study in data["studies"]:
            yield study_facts(study)
    elif isinstance(data, dict) and "protocolSection" in data:
        yield study_facts(data)


def _text(node: ET.Element | None, path: str) -> str:
    found = node.find(path) if node is not None else None
    return (found.text or "").strip() if found is not None else ""


def _from_xml(path: Path) -> Iterator[StudyFacts]:
    root = ET.parse(path).getroot()
    if root.tag != "clinical_study":
        return
    ivs = tuple(Intervention(_text(iv, "intervention_type").upper().replace(" ", "_"), _text(iv, "intervention_name"),
                             tuple((o.text or "").strip() for o in iv.findall("other_name")), _text(iv, "description"))
                for iv in root.findall("intervention"))
    yield StudyFacts(nct_id=_text(root, "id_info/nct_id"), title=_text(root, "brief_title"), interventions=ivs)


def _from_csv(path: Path) -> Iterator[StudyFacts]:
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            nct = (row.get("NCT Number") or row.get("term") or "").strip()
            ivs = []
            for part in (row.get("Interventions") or "").split("|"):
                kind, _, name = part.partition(":")
                if name.strip():
                    ivs.append(Intervention(kind.strip().upper().replace(" ", "_"), name.strip()))
            yield StudyFacts(nct_id=nct, title=(row.get("Study Title") or "").strip(), interventions=tuple(ivs))


def read_records(folder: Path) -> list[StudyFacts]:
    """Every study in ``folder`` (recursively), whatever its form; one entry per NCT id."""
    found: dict[str, StudyFacts] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".json":
            studies: Iterable[StudyFacts] = _from_json(json.loads(path.read_text(encoding="utf-8")))
        elif path.suffix == ".xml":
            studies = _from_xml(path)
        elif path.suffix == ".csv" and not path.name.startswith("_"):
            studies = _from_csv(path)
        else:
            continue
        for facts in studies:
            if facts.nct_id:
                found.setdefault(facts.nct_id, facts)
    return list(found.values())


@dataclass(frozen=True)
class Coverage:
    names: int  # distinct drug/biological intervention names
    unmatched: tuple[str, ...]  # of those, the ones no rule recognises

    @property
    def share(self) -> float:
        return len(self.unmatched) / self.names if self.names else 0.0


def coverage(studies: Iterable[StudyFacts]) -> Coverage:
    """Distinct drug and biological names, and those no rule recognises (read as the classifier reads
    them: name, other names, and for an unknown code name its description and the record's words)."""
    names: set[str] = set()
    unmatched: set[str] = set()
    for facts in studies:
        drugs = [iv for iv in facts.interventions if iv.type in DRUG_TYPES and iv.name.strip()]
        if not drugs:
            continue
        unknown = set(classify(facts).unrecognised)
        for iv in drugs:
            key = iv.name.strip().lower()
            names.add(key)
            if iv.name.strip() in unknown:
                unmatched.add(key)
    return Coverage(len(names), tuple(sorted(unmatched)))


def single_study_rules(studies: Iterable[StudyFacts]) -> dict[Rule, str]:
    """Rules that gave a category to exactly one of ``studies`` -> that study's NCT id."""
    seen: Counter[Rule] = Counter()
    where: dict[Rule, str] = {}
    for facts in studies:
        for rule in classify(facts).fired:
            seen[rule] += 1
            where[rule] = facts.nct_id
    return {rule: where[rule] for rule, n in seen.items() if n == 1}
