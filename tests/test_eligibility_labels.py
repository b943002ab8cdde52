"""The eligibility hand labels are well-formed: keys, vocabularies and types of ../shared/ELIGIBILITY.md,
and every evidence quote really occurs in the study's criteria text (checks the data, not an extractor)."""

from __future__ import annotations

import csv
import json
import re
from typing import Any

import pytest
from paths import ROOT, TESTS

ELIGIBILITY_LABELS = TESTS / "data" / "ELIGIBILITY_LABELS.jsonl"
FIXTURES = ROOT / "fixtures" / "aml-studies"

# Vocabularies exactly as ELIGIBILITY.md writes them.
MARKERS = {"FLT3", "IDH1", "IDH2", "NPM1", "KMT2A", "NUP98", "TP53", "CD33", "CD123", "CD70", "CLL-1",
           "RAS", "KIT", "PML-RARA", "BCR-ABL", "CBF"}
THERAPIES = {"any_prior_therapy", "venetoclax", "hma", "intensive_chemotherapy", "flt3_inhibitor",
             "idh1_inhibitor", "idh2_inhibitor", "menin_inhibitor", "cd33_antibody", "checkpoint_inhibitor",
             "car_t"}
ALLO = {"required", "excluded", "allowed", "not_stated"}
KEYS = ["nct_id", "max_ecog", "prior_allo_hct", "required_markers", "excluded_markers",
        "required_prior_therapies", "excluded_prior_therapies", "max_prior_lines", "evidence",
        "confidence", "note"]
FACTS = KEYS[1:8]
SETS = {"required_markers": MARKERS, "excluded_markers": MARKERS,
        "required_prior_therapies": THERAPIES, "excluded_prior_therapies": THERAPIES}


def _labels() -> list[dict[str, Any]]:
    return [json.loads(line) for line in ELIGIBILITY_LABELS.read_text(encoding="utf-8").splitlines()]


def _criteria(nct_id: str) -> str:
    record = json.loads((FIXTURES / f"{nct_id}.json").read_text(encoding="utf-8"))
    return record["protocolSection"]["eligibilityModule"].get("eligibilityCriteria") or ""


def _squash(text: str) -> str:
    """Bullets, line breaks and punctuation differ between the record and a quote; letters and digits do not."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


LABELS = _labels()


def test_enough_distinct_studies() -> None:
    ids = [label["nct_id"] for label in LABELS]
    assert len(ids) >= 60
    assert len(ids) == len(set(ids))


def test_only_studies_with_criteria_text() -> None:
    with (FIXTURES / "MANIFEST.csv").open(encoding="utf-8") as fh:
        formats = {row["nct_id"]: row["source_format"] for row in csv.DictReader(fh)}
    for label in LABELS:
        assert formats[label["nct_id"]] != "website-csv", label["nct_id"]
        assert _criteria(label["nct_id"]), label["nct_id"]


@pytest.mark.parametrize("label", LABELS, ids=[label["nct_id"] for label in LABELS])
def test_label_shape(label: dict[str, Any]) -> None:
    assert list(label) == KEYS
    assert re.fullmatch(r"NCT\d{8}", label["nct_id"])
    ecog, lines = label["max_ecog"], label["max_prior_lines"]
    assert ecog is None or (type(ecog) is int and 0 <= ecog <= 4)
    assert lines is None or (type(lines) is int and lines >= 0)
    assert label["prior_allo_hct"] in ALLO
    for key, vocabulary in SETS.items():
        values = label[key]
        assert isinstance(values, list) and len(values) == len(set(values)), key
        assert set(values) <= vocabulary, (key, values)
    assert not set(label["required_markers"]) & set(label["excluded_markers"])
    assert not set(label["required_prior_therapies"]) & set(label["excluded_prior_therapies"])
    # Untreated-only convention: any_prior_therapy excluded goes with max_prior_lines 0, and back.
    assert ("any_prior_therapy" in label["excluded_prior_therapies"]) == (lines == 0)
    assert label["confidence"] in {"high", "low"}
    assert isinstance(label["note"], str)


@pytest.mark.parametrize("label", LABELS, ids=[label["nct_id"] for label in LABELS])
def test_evidence_is_quoted_from_the_criteria(label: dict[str, Any]) -> None:
    evidence = label["evidence"]
    assert isinstance(evidence, dict) and set(evidence) <= set(FACTS)
    stated = {
        "max_ecog": label["max_ecog"] is not None,
        "prior_allo_hct": label["prior_allo_hct"] != "not_stated",
        "max_prior_lines": label["max_prior_lines"] is not None,
        **{key: bool(label[key]) for key in SETS},
    }
    assert all(key in evidence for key, has_value in stated.items() if has_value), evidence
    criteria = _squash(_criteria(label["nct_id"]))
    for key, quote in evidence.items():
        for piece in quote.split(" ... "):
            assert _squash(piece) in criteria, (key, piece)
