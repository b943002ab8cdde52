"""Eligibility facts (trialfinder.classify.eligibility): criterion sentence -> fact, one table per field.

The sentences are written in the registry's usual styles (numbered or bulleted "Inclusion Criteria: /
Exclusion Criteria:" lists, and the older run-together PDQ layout); none is copied from a fixture.
"""

from __future__ import annotations

import pytest

from trialfinder.classify.eligibility import FIELDS, RULES, Eligibility, criteria, extract


def inclusion(*items: str) -> str:
    return "Inclusion Criteria:\n\n" + "\n".join(f"* {i}" for i in items)


def exclusion(*items: str) -> str:
    return "Inclusion Criteria:\n\n* Adults with AML\n\nExclusion Criteria:\n\n" + "\n".join(f"* {i}" for i in items)


# --- max_ecog ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (inclusion("ECOG performance status 0-2"), 2),
    (inclusion("Eastern Cooperative Oncology Group (ECOG) performance status of 0, 1, or 2"), 2),
    (inclusion("ECOG performance status ≤ 1"), 1),
    (inclusion("ECOG performance status of 2 or less"), 2),
    (inclusion("ECOG performance status < 3"), 2),
    (inclusion("WHO performance status 0 to 3"), 3),
    (inclusion("Zubrod performance status of 0-1"), 1),
    (inclusion("Karnofsky performance status ≥ 70%"), 1),
    (inclusion("Karnofsky performance status >= 60%"), 2),
    (inclusion("Lansky play-performance score of at least 50"), 2),
    (inclusion("Karnofsky performance status > 60"), 1),
    (inclusion("KPS of 90-100"), 0),
    (inclusion("Performance status ECOG 0-2 for patients ≥ 16 years; Lansky ≥ 50 for patients < 16 years"), 2),
    (inclusion("Performance status (ECOG) 0-1 or Karnofsky ≥ 50%"), 1),
    (exclusion("ECOG performance status ≥ 3"), 2),
    (exclusion("ECOG performance status > 2"), 2),
    (exclusion("Karnofsky performance status < 60%"), 2),
    (inclusion("Age ≥ 18 years", "Adequate organ function"), None),
    (inclusion("Dose escalation: ECOG 0-1", "Dose expansion: ECOG 0-2"), 2),
    (inclusion("ECOG performance status 0-2, or 3 if attributable to the leukemia"), 3),
    (inclusion("Karnofsky ≥ 80% for patients aged ≥ 60 years or ≥ 70% for patients < 60 years"), 1),
    (inclusion("Karnofsky score ≥ 80% for patients ≥ 60 years old"), 1),  # (60 years is an age, not a score)
    (inclusion("Karnofsky 70-100% (50% if hospitalized)"), 2),
    (inclusion("Karnofsky 60-100% (for patients > 10 years of age)"), 2),
    (inclusion("ECOG ≤ 1 for dose-escalation patients, ≤ 2 for expansion patients"), 2),
    (inclusion("ECOG performance status 0-1 (dose escalation) or 0-2 (dose expansion)"), 2),
    ("DISEASE CHARACTERISTICS:\n- Relapsed AML\nPATIENT CHARACTERISTICS:\nPerformance status:\n- 0-2\n", 2),
    ("PATIENT CHARACTERISTICS:\nAge:\n- 18 and over\nPerformance status:\n- 0-1\nLife expectancy:\n- Not specified", 1),
])
def test_max_ecog(text: str, expected: int | None) -> None:
    assert extract(text).max_ecog == expected


# --- prior_allo_hct ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (exclusion("Prior allogeneic hematopoietic stem cell transplantation"), "excluded"),
    (exclusion("History of allogeneic stem cell transplant"), "excluded"),
    (inclusion("No prior allogeneic bone marrow transplant"), "excluded"),
    (exclusion("Allogeneic HSCT within 100 days prior to enrollment"), "allowed"),
    (exclusion("Prior allogeneic HCT unless > 6 months ago and off all immunosuppression"), "allowed"),
    (inclusion("Patients with relapse after prior allogeneic HSCT are eligible if at least 100 days post-transplant "
               "and without active GVHD"), "allowed"),
    (inclusion("Patients must have undergone allogeneic hematopoietic cell transplantation for AML"), "required"),
    (inclusion("Recipients of a first allogeneic stem cell transplant, between day 42 and day 100 post-transplant"),
     "required"),
    (inclusion("Relapsed or refractory AML after chemotherapy or allogeneic HSCT"), "allowed"),
    (exclusion("Prior autologous stem cell transplant"), "not_stated"),
    (inclusion("Prior autologous transplant allowed"), "not_stated"),
    (inclusion("Eligible for allogeneic stem cell transplantation", "Has an HLA-matched sibling donor"), "not_stated"),
    (exclusion("Active acute or chronic GVHD requiring systemic therapy"), "not_stated"),
    (exclusion("Solid organ transplant recipient"), "not_stated"),
    (inclusion("HCT-CI score ≤ 3"), "not_stated"),
    (inclusion("No allogeneic stem cell transplant within the previous 6 months"), "allowed"),
    (inclusion("No active GVHD and ≥ 100 days since allogeneic transplant"), "allowed"),
    (inclusion("Relapsed lymphoma after autologous transplant: eligible if more than 1 year post-transplant"),
     "not_stated"),
    (inclusion("High-risk AML as defined by the Center for International Blood and Marrow Transplant Research"),
     "not_stated"),
    (inclusion("Persistent hematologic malignancy or solid tumor after allogeneic stem cell transplantation"),
     "required"),
    (exclusion("Prior allogeneic HSCT", "Stem cell transplant within 60 days of the first dose"), "excluded"),
    (inclusion("Participants who have undergone allogeneic HSCT must be ≥ 100 days post-transplant, off "
               "immunosuppression for ≥ 4 weeks, and have no active GVHD"), "allowed"),
    (inclusion("Patients in morphologic relapse after allogeneic HSCT"), "required"),
    (inclusion("Patients with prior allogeneic SCT must be at least 3 months post-transplant and off "
               "immunosuppression"), "allowed"),
    (inclusion("Diagnosis of steroid-refractory acute GVHD of the gut"), "required"),  # (a GVHD treatment study)
    (inclusion("Use of tacrolimus for prophylaxis of GVHD after allogeneic HCT"), "not_stated"),
    (exclusion("Participants who have received more than one prior HSCT"), "allowed"),
    (exclusion("No prior allogeneic HCT (an autologous HCT is allowed)"), "not_stated"),  # (not "allowed")
    (inclusion("Relapsed AML", "Patients with mild skin GVHD are eligible"), "allowed"),
    (inclusion("Planned post-transplant immune suppression with tacrolimus"), "not_stated"),
    (inclusion("Other agents may be used if toxicity occurs post-transplant"), "not_stated"),
    (inclusion("Prior allogeneic HSCT is permitted if the participant is > 60 days from transplant, has no active "
               "GVHD and is off systemic immunosuppression for ≥ 2 weeks"), "allowed"),
    (exclusion("Received HSCT within 60 days prior to first dose, or active GVHD requiring systemic "
               "immunosuppression"), "allowed"),
    (exclusion("Candidates for allogeneic stem cell transplantation at study entry"), "not_stated"),
    (exclusion("Opinion of the BMT committee that an autologous transplant would be preferable"), "not_stated"),
    (inclusion("Patients who relapsed after allogeneic HSCT are eligible provided they have no active GVHD and are "
               "at least 60 days post-transplant"), "allowed"),
    (inclusion("An unrelated donor search is not needed if the clinical situation requires an urgent transplant"),
     "not_stated"),
])
def test_prior_allo_hct(text: str, expected: str) -> None:
    assert extract(text).prior_allo_hct == expected


# --- markers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, required, excluded", [
    (inclusion("Documented FLT3 mutation (ITD or TKD)"), ("FLT3",), ()),
    (inclusion("AML with an IDH1 or IDH2 mutation"), ("IDH1", "IDH2"), ()),
    (inclusion("KMT2A-rearranged or NPM1-mutated acute leukemia"), ("NPM1", "KMT2A"), ()),
    (inclusion("MLL-rearranged acute leukemia"), ("KMT2A",), ()),
    (inclusion("CD123-positive AML on flow cytometry"), ("CD123",), ()),
    (inclusion("CLEC12A expression on ≥ 20% of blasts"), ("CLL-1",), ()),
    (inclusion("Documented NRAS or KRAS mutation"), ("RAS",), ()),
    (inclusion("Core-binding factor AML: t(8;21) or inv(16)"), ("CBF",), ()),
    (exclusion("Acute promyelocytic leukemia (APL)"), (), ("PML-RARA",)),
    (exclusion("Patients with t(15;17) or PML-RARA"), (), ("PML-RARA",)),
    (inclusion("AML of any subtype except acute promyelocytic leukemia"), (), ("PML-RARA",)),
    (exclusion("BCR-ABL positive leukemia"), (), ("BCR-ABL",)),
    (inclusion("FLT3 wild-type AML"), (), ("FLT3",)),
    (inclusion("High-risk AML, e.g. adverse cytogenetics, TP53 mutation or FLT3-ITD"), (), ()),
    (inclusion("FLT3 mutation status must be known before enrollment"), (), ()),
    (inclusion("AML regardless of FLT3 status"), (), ()),
    (exclusion("Prior treatment with a FLT3 inhibitor"), (), ()),
    (inclusion("Newly diagnosed acute promyelocytic leukemia confirmed by PML-RARA"), ("PML-RARA",), ()),
    (inclusion("Any myeloproliferative disorder except Philadelphia chromosome positive chronic myeloid leukemia"),
     (), ()),
    (exclusion("BCR-ABL positive AML"), (), ("BCR-ABL",)),
    (inclusion("Philadelphia chromosome positive (Ph+) patients must have received 2 prior TKIs"), (), ()),
    (inclusion("More than 25% blasts in the bone marrow (M3 bone marrow)"), (), ()),
    (inclusion("Patients with MLL-r or NPM1m acute leukemia"), ("NPM1", "KMT2A"), ()),
    (inclusion("IDH1 R132 mutation confirmed by central testing"), ("IDH1",), ()),
    (inclusion("Relapsed after 2 BCR-ABL tyrosine-kinase (TK) inhibitors"), (), ()),  # (a drug, not the marker)
    (inclusion("Arm A: FLT3-mutated AML", "Arm B: FLT3 wild-type AML"), (), ()),  # (a marker of one arm)
    (exclusion("Known core binding factor AML"), (), ("CBF",)),
    (inclusion("Relapsed or refractory AML with KMT2A rearrangement or NPM1 mutation"), ("NPM1", "KMT2A"), ()),
    (inclusion("Dose escalation: relapsed AML", "Dose expansion: relapsed AML with an IDH1 mutation"), (), ()),
    (inclusion("FLT3-mutated AML (all cohorts)"), ("FLT3",), ()),
    (inclusion("Acute promyelocytic leukemia (M3) allowed if ineligible for a dedicated APL protocol"), (), ()),
    (inclusion("All FAB subtypes except M3 are eligible"), (), ("PML-RARA",)),
])
def test_markers(text: str, required: tuple[str, ...], excluded: tuple[str, ...]) -> None:
    facts = extract(text)
    assert (facts.required_markers, facts.excluded_markers) == (required, excluded)


# --- prior therapies and lines ----------------------------------------------------------------

@pytest.mark.parametrize("text, required, excluded", [
    (inclusion("Relapsed or refractory AML"), ("any_prior_therapy",), ()),
    (inclusion("AML refractory to or relapsed after at least one prior line of therapy"), ("any_prior_therapy",), ()),
    (inclusion("AML in first complete remission after induction"), ("any_prior_therapy",), ()),
    (inclusion("Relapsed or refractory AML after prior treatment with venetoclax"),
     ("any_prior_therapy", "venetoclax"), ()),
    (inclusion("Relapsed/refractory AML after hypomethylating agent therapy"), ("any_prior_therapy", "hma"), ()),
    (inclusion("Relapsed or refractory AML, or newly diagnosed AML unfit for intensive chemotherapy"), (), ()),
    (inclusion("Cohort A: relapsed or refractory AML", "Cohort B: newly diagnosed AML"), (), ()),
    (inclusion("Previously untreated AML"), (), ("any_prior_therapy",)),
    (exclusion("Prior therapy for AML, except hydroxyurea"), (), ("any_prior_therapy",)),
    (exclusion("Prior treatment with any FLT3 inhibitor"), (), ("flt3_inhibitor",)),
    (exclusion("Prior exposure to venetoclax"), (), ("venetoclax",)),
    (exclusion("Prior treatment with gemtuzumab ozogamicin"), (), ("cd33_antibody",)),
    (exclusion("Prior menin inhibitor therapy"), (), ("menin_inhibitor",)),
    (exclusion("Prior CAR-T cell therapy"), (), ("car_t",)),
    (exclusion("Prior treatment with an anti-PD-1 or anti-CTLA-4 antibody"), (), ("checkpoint_inhibitor",)),
    (exclusion("Disease refractory to azacitidine or decitabine"), (), ("hma",)),
    (exclusion("Chemotherapy or investigational agents within 14 days of the first dose"), (), ()),
    (exclusion("Known hypersensitivity to azacitidine or mannitol"), (), ()),
    (inclusion("Relapsed AML; no prior venetoclax"), ("any_prior_therapy",), ("venetoclax",)),
    (inclusion("Patients who have not received a prior IDH1 inhibitor"), (), ("idh1_inhibitor",)),
    (exclusion("Candidates for intensive induction chemotherapy"), (), ()),
    (inclusion("AML refractory to high-dose ara-C"), ("any_prior_therapy", "intensive_chemotherapy"), ()),
    (exclusion("Prior therapy with an anti-cytotoxic T-lymphocyte-associated antigen 4 antibody"), (),
     ("checkpoint_inhibitor",)),
    (inclusion("Relapsed or refractory AML, or", "AML with primary induction failure, or",
               "Myelodysplastic syndrome with excess blasts"), ("any_prior_therapy",), ()),  # (the MDS route is ignored)
    (inclusion("Relapsed or refractory AML, or",
               "AML in patients who are not, in the opinion of the investigator, candidates for standard induction"),
     (), ()),
    (inclusion("Relapsed AML", "AML secondary to MDS for which induction chemotherapy is not recommended"), (), ()),
    (inclusion("Must not have received any definitive therapy for AML other than hydroxyurea"), (),
     ("any_prior_therapy",)),
    (inclusion("Relapsed AML after induction chemotherapy",
               "No prior induction therapy is allowed in patients with newly diagnosed secondary AML"), (), ()),
    (inclusion("Relapsed AML", "Recovered from the toxicities of prior anthracycline therapy"),
     ("any_prior_therapy",), ()),
    (inclusion("Relapsed AML", "Patients must have failed high-dose cytarabine"),
     ("any_prior_therapy", "intensive_chemotherapy"), ()),
    (inclusion("Not eligible for potentially curative allogeneic transplantation",
               "Refractory to or relapsed after induction chemotherapy"),
     ("any_prior_therapy", "intensive_chemotherapy"), ()),
    (inclusion("AML for which no standard therapy is expected to give a durable remission, or who have relapsed "
               "after chemotherapy, or who refuse standard therapy"), (), ()),
    (inclusion("Relapsed AML in patients who are not fit for intensive salvage chemotherapy"),
     ("any_prior_therapy",), ()),
    (inclusion("Patients with de novo AML must be in first or later relapse"), (), ()),
    (inclusion("Untreated AML, OR at most 2 prior induction regimens"), (), ()),
    (inclusion("Relapsed, refractory, or untreated AML with WBC < 30,000/µL", "Untreated AML with adverse risk"),
     (), ()),  # (not untreated-only: the first criterion admits treated patients too)
    (inclusion("Relapsed or refractory AML OR newly diagnosed AML in patients unfit for standard therapy"), (), ()),
    (inclusion("Untreated refractory anemia with excess blasts in transformation", "Relapsed AML"),
     ("any_prior_therapy",), ()),
    (exclusion("Prior treatment with liposomal daunorubicin"), (), ()),
    (inclusion("No bilirubin > 2 x ULN (for the non-intensive therapy arm)"), (), ()),
    (inclusion("Relapsed AML in patients without an acceptable allogeneic donor"), ("any_prior_therapy",), ()),
    (inclusion("AML in induction failure, partial remission, or untreated or chemo-refractory relapse"),
     ("any_prior_therapy",), ()),  # ('untreated relapse' presupposes treatment)
    (inclusion("AML in complete remission"), ("any_prior_therapy",), ()),
    (inclusion("Patients with relapsed or refractory AML are eligible"), ("any_prior_therapy",), ()),
    (inclusion("AML refractory to standard therapy or for which no effective therapy exists"), (), ()),
    (inclusion("AML in remission or in early relapse or overt active acute myeloid leukemia"), (), ()),
    (inclusion("Relapsed or refractory AML after intensive chemotherapy or an HMA-based regimen"),
     ("any_prior_therapy",), ()),  # (either treatment: neither is required)
    (inclusion("Relapsed AML after prior azacitidine or decitabine"), ("any_prior_therapy", "hma"), ()),
    (inclusion("AML refractory to 7+3 or relapsed after it"), ("any_prior_therapy", "intensive_chemotherapy"), ()),
    (exclusion("Prior treatment with a FLT3 inhibitor (prior midostaurin in first line is allowed)"), (),
     ("flt3_inhibitor",)),
    (inclusion("Use of tacrolimus for prophylaxis of GVHD after allogeneic HCT"), (), ()),  # (the study's transplant)
    (inclusion("Relapsed AML", "Prior treatment with gilteritinib is not allowed"), ("any_prior_therapy",),
     ("flt3_inhibitor",)),
    (exclusion("Prior venetoclax is not permitted"), (), ("venetoclax",)),
    (inclusion("Relapsed/refractory AML", "Venetoclax-naïve"), ("any_prior_therapy",), ("venetoclax",)),
    (inclusion("Relapsed/refractory AML", "Naive to menin inhibitors"), ("any_prior_therapy",), ("menin_inhibitor",)),
    (exclusion("Prior exposure to a CD33-directed antibody-drug conjugate"), (), ("cd33_antibody",)),
    (exclusion("Disease progression on prior venetoclax"), (), ("venetoclax",)),
    (exclusion("History of severe hypersensitivity to venetoclax"), (), ()),
    (exclusion("Previous treatment with any IDH inhibitor"), (), ("idh1_inhibitor", "idh2_inhibitor")),
    (inclusion("AML that is refractory to or relapsed after venetoclax-based therapy"),
     ("any_prior_therapy", "venetoclax"), ()),
])
def test_prior_therapies(text: str, required: tuple[str, ...], excluded: tuple[str, ...]) -> None:
    facts = extract(text)
    assert (facts.required_prior_therapies, facts.excluded_prior_therapies) == (required, excluded)


@pytest.mark.parametrize("text, expected", [
    (inclusion("Relapsed AML after no more than 2 prior regimens"), 2),
    (inclusion("Received 1-3 prior lines of therapy"), 3),
    (inclusion("Two or fewer prior salvage regimens"), 2),
    (inclusion("Fewer than 3 prior regimens for AML"), 2),
    (exclusion("More than 2 prior lines of therapy for AML"), 2),
    (exclusion("3 or more prior regimens"), 2),
    (inclusion("AML in first or second relapse"), None),
    (inclusion("Previously untreated AML"), 0),
    (inclusion("Untreated AML, OR at most 2 prior induction regimens"), 2),
    (inclusion("Refractory AML; patients may not have received more than 1 prior course of chemotherapy"), 1),
])
def test_max_prior_lines(text: str, expected: int | None) -> None:
    assert extract(text).max_prior_lines == expected


# --- reading the text: sections, donors, the PDQ layout, evidence -----------------------------

def test_sections_and_donor_criteria() -> None:
    text = ("Inclusion Criteria:\n1. Relapsed AML\n2. ECOG 0-2\nDonor Inclusion Criteria:\n1. Karnofsky ≥ 90%\n"
            "2. Prior allogeneic transplant donors are excluded\nExclusion Criteria:\n1. Acute promyelocytic leukemia")
    sections = [(c.section, c.text) for c in criteria(text)]
    assert sections == [("inclusion", "Relapsed AML"), ("inclusion", "ECOG 0-2"), ("donor", "Karnofsky ≥ 90%"),
                        ("donor", "Prior allogeneic transplant donors are excluded"),
                        ("exclusion", "Acute promyelocytic leukemia")]
    facts = extract(text)
    assert facts.max_ecog == 2 and facts.prior_allo_hct == "not_stated" and facts.excluded_markers == ("PML-RARA",)


def test_run_together_pdq_layout_is_split_into_criteria() -> None:
    text = ("DISEASE CHARACTERISTICS: Acute myeloid leukemia in first relapse No acute promyelocytic leukemia\n"
            "PATIENT CHARACTERISTICS: Age: 18 and over Performance status: ECOG 0-2 Life expectancy: Not\n"
            "specified\nPRIOR CONCURRENT THERAPY: Biologic therapy: No prior allogeneic bone marrow\n"
            "transplantation Chemotherapy: No prior gemtuzumab ozogamicin At least 2 weeks since prior chemotherapy")
    facts = extract(text)
    assert facts.max_ecog == 2
    assert facts.prior_allo_hct == "excluded"
    assert facts.excluded_markers == ("PML-RARA",)
    assert facts.excluded_prior_therapies == ("cd33_antibody",)
    assert facts.required_prior_therapies == ("any_prior_therapy",)
    assert facts.evidence_for("max_ecog") == ("Performance status: ECOG 0-2",)


def test_wrapped_lines_join_and_or_items_are_alternatives() -> None:
    text = ("Inclusion Criteria:\n1. AML meeting one of the following:\n"
            "a) Refractory to at least one cycle of induction\nchemotherapy, or\n"
            "b) Relapsed after induction chemotherapy, or\n"
            "c) Newly diagnosed and not a candidate for intensive chemotherapy\n")
    facts = extract(text)
    assert facts.required_prior_therapies == ()  # route c) admits untreated patients


def test_items_indented_under_any_of_the_following_are_alternatives() -> None:
    risk = ("Inclusion Criteria:\n\n* Relapsed AML\n* High-risk disease, with any of the following:\n"
            "  * secondary AML\n  * FLT3-ITD mutation\n* ECOG 0-2")
    assert criteria(risk)[1].alternatives == ("secondary aml", "flt3-itd mutation")
    assert (extract(risk).required_markers, extract(risk).max_ecog) == ((), 2)
    mutations = ("Inclusion Criteria:\n\n* AML with one of the following mutations:\n  * FLT3-ITD or TKD\n"
                 "  * IDH1 R132\n* ECOG 0-1")
    assert extract(mutations).required_markers == ("FLT3", "IDH1")
    routes = ("Inclusion Criteria:\n\n* AML meeting at least one of the following:\n"
              "  * Refractory to induction chemotherapy\n  * Relapse after a first remission\n")
    assert extract(routes).required_prior_therapies == ("any_prior_therapy",)
    unfit = routes + "  * Newly diagnosed and unfit for intensive chemotherapy\n"
    assert extract(unfit).required_prior_therapies == ()
    flat = "Inclusion Criteria:\n\n* AML with any of the following:\n* Relapsed AML\n* FLT3-ITD mutation"
    assert [c.alternatives for c in criteria(flat)] == [(), (), ()]  # (no indentation: no nesting is read)


def test_criteria_of_a_later_stage_of_the_study_are_not_entry_criteria() -> None:
    text = ("DISEASE CHARACTERISTICS:\n- First randomization:\n- Untreated AML\n- Second randomization:\n"
            "- Complete remission after consolidation\n- Prior allogeneic transplant not allowed\n"
            "PATIENT CHARACTERISTICS:\nPerformance status:\n- WHO 0-2\n")
    sections = {c.text: c.section for c in criteria(text)}
    assert [sections[t] for t in ("Untreated AML", "Second randomization: Complete remission after consolidation",
                                  "Prior allogeneic transplant not allowed", "Performance status: WHO 0-2")] == [
        "inclusion", "later", "later", "inclusion"]
    facts = extract(text)
    assert (facts.excluded_prior_therapies, facts.max_prior_lines, facts.prior_allo_hct, facts.max_ecog) == (
        ("any_prior_therapy",), 0, "not_stated", 2)
    post = ("Inclusion Criteria:\n* AML in first remission, planned allogeneic transplant\n"
            "Post-transplant eligibility criteria:\n* Day 30 to 100 after allogeneic HCT\n* ECOG 0-2\n")
    assert extract(post).prior_allo_hct == "not_stated" and extract(post).max_ecog is None


def test_conditions_indented_under_a_head_belong_to_its_criterion() -> None:
    text = ("Inclusion Criteria:\n\n* Relapsed AML\n* Prior allogeneic HSCT is allowed if all of the following apply:\n"
            "  * ≥ 60 days from transplant\n  * No active GVHD\n* ECOG 0-2\n")
    head = criteria(text)[1]
    assert head.alternatives == () and len(head.clauses) == 3  # (one clause a condition, not alternatives)
    facts = extract(text)
    assert (facts.prior_allo_hct, facts.allo_days, facts.max_ecog) == ("allowed", (60, None), 2)


def test_criteria_under_a_heading_for_one_cohort_are_that_cohorts() -> None:
    text = ("Inclusion Criteria (all cohorts):\n\n* Relapsed or refractory AML\n\n"
            "Additional inclusion criteria for Cohort B:\n\n* FLT3 mutation (ITD or TKD)\n"
            "* Relapse after prior venetoclax\n\nExclusion Criteria:\n\n* Acute promyelocytic leukemia\n")
    assert [c.cohort for c in criteria(text)] == [False, True, True, False]
    facts = extract(text)
    assert facts.required_markers == () and facts.required_prior_therapies == ("any_prior_therapy",)
    assert facts.excluded_markers == ("PML-RARA",)


def test_an_item_ending_in_a_word_ending_in_or_is_not_an_alternative() -> None:
    text = inclusion("Has an HLA-matched sibling donor", "Relapsed AML", "ECOG 0-1")
    assert [c.alternatives for c in criteria(text)] == [(), (), ()]
    assert extract(text).required_prior_therapies == ("any_prior_therapy",)


def test_a_donors_label_on_one_bullet_does_not_open_a_donor_section() -> None:
    text = "Inclusion Criteria:\n- Relapsed AML\n- DONORS: HLA-matched sibling or unrelated donor\n- ECOG 0-1"
    assert [c.section for c in criteria(text)] == ["inclusion", "donor", "inclusion"]
    assert extract(text).max_ecog == 1


def test_evidence_keeps_the_sentence_of_each_value() -> None:
    text = exclusion("Prior treatment with gilteritinib or quizartinib", "Acute promyelocytic leukemia")
    facts = extract(text)
    assert facts.evidence_for("excluded_prior_therapies", "flt3_inhibitor") == (
        "Prior treatment with gilteritinib or quizartinib",)
    assert facts.evidence_json()["excluded_markers"] == {"PML-RARA": ["Acute promyelocytic leukemia"]}
    assert facts.evidence_json()["max_ecog"] == []


def test_nothing_stated_and_no_text() -> None:
    assert extract("").facts() == Eligibility().facts()
    assert not extract("").text_given
    assert extract("   ").facts() == {"max_ecog": None, "prior_allo_hct": "not_stated", "required_markers": [],
                                       "excluded_markers": [], "required_prior_therapies": [],
                                       "excluded_prior_therapies": [], "max_prior_lines": None}
    assert list(extract(inclusion("Relapsed AML")).facts()) == list(FIELDS)


def test_registry_markup_is_read_as_text() -> None:
    text = "Inclusion Criteria:\n\n* ECOG performance status \\<= 2\n* Platelets \\> 50,000/µL"
    assert extract(text).max_ecog == 2


def test_every_rule_has_a_note() -> None:
    assert RULES and all(rule.note for rule in RULES)


def test_json_round_trip_keeps_facts_and_evidence() -> None:
    import json

    facts = extract(exclusion("Prior treatment with gilteritinib", "ECOG performance status > 2"))
    back = Eligibility.from_json(json.loads(json.dumps(facts.to_json())))
    assert back == facts and back.evidence == facts.evidence and back.text_given
