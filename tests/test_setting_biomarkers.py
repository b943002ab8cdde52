"""Disease setting (negation-aware) and biomarkers: one table each of study text → expected."""

from __future__ import annotations

import json

import pytest
from paths import LABELS

from trialfinder.classify.biomarkers import BIOMARKER_KEYS, biomarkers
from trialfinder.classify.disease_setting import DISEASE_SETTING_KEYS, disease_setting, disease_setting_evidence
from trialfinder.source.facts import Intervention, StudyFacts


def study(title: str = "A study in AML", eligibility: str = "", conditions: tuple[str, ...] = (),
          summary: str = "", drugs: tuple[str, ...] = ()) -> StudyFacts:
    return StudyFacts(nct_id="NCT00000000", title=title, eligibility=eligibility, conditions=conditions,
                      brief_summary=summary, study_type="INTERVENTIONAL",
                      interventions=tuple(Intervention("DRUG", d) for d in drugs))


RR, ND, PT = DISEASE_SETTING_KEYS

SETTING_CASES = [
    ("R/R in title", study("Drug X in Relapsed or Refractory Acute Myeloid Leukemia"), {RR}),
    ("recurrent in conditions", study(conditions=("Recurrent Adult Acute Myeloid Leukemia",)), {RR}),
    ("first relapse", study("Drug X in AML in First Relapse"), {RR}),
    ("primary induction failure", study("Drug X in Primary Induction Failure AML"), {RR}),
    ("plain-language relapse", study(summary="AML which has come back or has not gone away after treatment."), {RR}),
    ("newly diagnosed", study("Drug X in Newly Diagnosed AML"), {ND}),
    ("previously untreated", study("Drug X in Previously Untreated AML"), {ND}),
    ("negation: no prior therapy", study(eligibility="Inclusion Criteria: - AML - No prior therapy for AML"), {ND}),
    ("negation: has not received prior treatment",
     study(eligibility="Inclusion Criteria: - Has not received prior treatment for AML"), {ND}),
    ("exclusion of prior therapy means untreated",
     study(eligibility="Inclusion Criteria: - AML Exclusion Criteria: - Prior chemotherapy for AML"), {ND}),
    ("relapsed named only under exclusion criteria",
     study(eligibility="Inclusion Criteria: - AML Exclusion Criteria: - Relapsed disease"), set()),
    ("no prior therapy for this relapse is still R/R",
     study(eligibility="Inclusion Criteria: - AML in first relapse - No prior chemotherapy for AML in first relapse"),
     {RR}),
    ("both settings", study("Drug X for Newly Diagnosed or Relapsed/Refractory AML"), {RR, ND}),
    ("refractory anemia is MDS, not R/R AML", study(conditions=("Refractory Anemia With Excess Blasts",)), set()),
    ("R/R lymphoma is not R/R AML", study("Drug X for Relapsed or Refractory Lymphoma"), set()),
    ("risk of relapse is not relapse",
     study(summary="Maintenance may reduce the risk of relapse in AML in remission."), set()),
    ("'become resistant' boilerplate",
     study(summary="Some cancers may become resistant to chemotherapy drugs."), set()),
    ("failed frontline therapy is not newly diagnosed",
     study(eligibility="Inclusion Criteria: - Hodgkin lymphoma: must have received and failed frontline therapy"),
     set()),
    ("relapse after transplant", study("Drug X for AML Relapse After Allogeneic Transplant"), {RR, PT}),
    ("post-transplant maintenance", study("Drug X Maintenance After Allogeneic Stem Cell Transplant"), {PT}),
]


@pytest.mark.parametrize(("case", "facts", "expected"), SETTING_CASES, ids=[c[0] for c in SETTING_CASES])
def test_disease_setting(case: str, facts: StudyFacts, expected: set[str]) -> None:
    got = disease_setting(facts)
    assert set(got) == expected, disease_setting_evidence(facts)
    assert list(got) == [k for k in DISEASE_SETTING_KEYS if k in got]


BIOMARKER_CASES = [
    ("title mutation", study("Drug X in FLT3-mutated AML"), ("FLT3",)),
    ("IDH1/2 names both", study("Drug X in IDH1/2-mutant AML"), ("IDH1", "IDH2")),
    ("condition", study(conditions=("NPM1 Mutation",)), ("NPM1",)),
    ("MLL rearrangement = KMT2A", study("Drug X in MLL-rearranged Leukemia"), ("KMT2A",)),
    ("TP53 in eligibility", study(eligibility="Inclusion Criteria: - TP53 mutation"), ("TP53",)),
    ("drug target: gilteritinib → FLT3", study(drugs=("gilteritinib",)), ("FLT3",)),
    ("drug target: revumenib → KMT2A", study(drugs=("revumenib",)), ("KMT2A",)),
    ("drug target: GO → CD33", study(drugs=("gemtuzumab ozogamicin",)), ("CD33",)),
    ("CAR-T antigen", study(drugs=("CLL-1 CAR-T cells",)), ("CLL-1",)),
    ("CD123 in title", study("CD123-directed T cells for AML"), ("CD123",)),
    ("KIT D816V", study("Avapritinib in KIT D816V Mastocytosis"), ("KIT",)),
    ("RAS pathway", study(conditions=("NRAS Gene Mutation",)), ("RAS",)),
    ("Flt3 ligand is not FLT3", study("flt3 Ligand in Treating AML"), ()),
    ("negated", study(eligibility="Inclusion Criteria: - no FLT3 mutation"), ()),
    ("risk-feature list does not select",
     study(eligibility="Inclusion Criteria: - high-risk AML, e.g. FLT3-ITD or complex karyotype"), ()),
    ("exclusion only", study(eligibility="Inclusion Criteria: - AML Exclusion Criteria: - prior menin inhibitor"), ()),
]


@pytest.mark.parametrize(("case", "facts", "expected"), BIOMARKER_CASES, ids=[c[0] for c in BIOMARKER_CASES])
def test_biomarkers(case: str, facts: StudyFacts, expected: tuple[str, ...]) -> None:
    assert biomarkers(facts) == expected


def test_biomarker_keys_spelled_as_the_labels() -> None:
    with open(LABELS, encoding="utf-8") as fh:
        used = {b for line in fh if line.strip() for b in json.loads(line)["biomarkers"]}
    assert used <= set(BIOMARKER_KEYS)
    assert BIOMARKER_KEYS == ("FLT3", "IDH1", "IDH2", "NPM1", "KMT2A", "NUP98", "TP53", "CD33", "CD123", "CD70",
                              "CLL-1", "RAS", "KIT")
