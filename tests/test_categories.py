"""Treatment-category rules (CATEGORIES.md): one table of study snippets → expected categories."""

from __future__ import annotations

import pytest

from trialfinder.classify.categories import CATEGORY_KEYS, classify, rules_table
from trialfinder.classify.evaluation import load_studies
from trialfinder.labels import CATEGORY_DESCRIPTIONS, CATEGORY_LABELS
from trialfinder.source.facts import ArmGroup, Intervention, StudyFacts
from paths import AML_STUDIES


def iv(name: str, type: str = "DRUG", other: tuple[str, ...] = (), description: str = "") -> Intervention:
    return Intervention(type=type, name=name, other_names=other, description=description)


def study(*interventions: Intervention, title: str = "A study in AML", purpose: str = "TREATMENT",
          summary: str = "", study_type: str = "INTERVENTIONAL", arms: tuple[ArmGroup, ...] = ()) -> StudyFacts:
    return StudyFacts(nct_id="NCT00000000", title=title, brief_summary=summary, primary_purpose=purpose,
                      study_type=study_type, interventions=interventions, arm_groups=arms)


HSCT = iv("Allogeneic Hematopoietic Stem Cell Transplantation", "PROCEDURE")

CASES = [
    # drug names, code names, brands, stems
    ("FLT3 inhibitor by name", study(iv("gilteritinib")), {"targeted"}),
    ("code name ASP2215 = gilteritinib", study(iv("ASP2215")), {"targeted"}),
    ("SNDX-5613 = revumenib", study(iv("SNDX-5613")), {"targeted"}),
    ("code name written solid", study(iv("SNDX5613")), {"targeted"}),
    ("AG-221 = enasidenib", study(iv("AG-221")), {"targeted"}),
    ("ABT-199 + azacitidine", study(iv("ABT-199"), iv("Azacitidine")), {"targeted", "chemotherapy"}),
    ("CPX-351", study(iv("CPX-351")), {"chemotherapy"}),
    ("Vyxeos brand", study(iv("Vyxeos")), {"chemotherapy"}),
    ("liposomal daunorubicin-cytarabine", study(iv("Liposome-encapsulated Daunorubicin-Cytarabine")), {"chemotherapy"}),
    ("ASTX727 = decitabine-cedazuridine", study(iv("ASTX727")), {"chemotherapy"}),
    ("-tinib stem", study(iv("newtinib")), {"targeted"}),
    ("-ciclib stem (misspelt palbociclib)", study(iv("Palcociclib")), {"targeted"}),
    ("regimen name in one intervention",
     study(iv("Cladribine, Cytarabine, Mitoxantrone, G-CSF (CLAG-M) regimen")), {"chemotherapy"}),
    ("several drugs in one name", study(iv("azacytidine;cytarabine;aclamycin;Chidamide;venetoclax;granulocyte")),
     {"targeted", "chemotherapy"}),
    # rule 1: antibodies
    ("ADC against CD33", study(iv("Gemtuzumab Ozogamicin")), {"targeted"}),
    ("radio-conjugate anti-CD45",
     study(iv("iodine I 131 monoclonal antibody BC8", "RADIATION"), HSCT), {"targeted", "transplant"}),
    ("CD123xCD3 engager", study(iv("Flotetuzumab", "BIOLOGICAL")), {"immunotherapy"}),
    ("CD47 macrophage checkpoint", study(iv("Magrolimab")), {"immunotherapy"}),
    ("checkpoint antibody whose other name says monoclonal antibody",
     study(iv("ipilimumab", other=("monoclonal antibody CTLA-4",))), {"immunotherapy"}),
    # rule 2 and 8: cell therapy, lymphodepletion, IL-2 for NK cells, CRS drugs
    ("CAR-T with flu/cy lymphodepletion",
     study(iv("CD33 CAR-T cells", "BIOLOGICAL"), iv("Fludarabine"), iv("Cyclophosphamide")),
     {"immunotherapy"}),
    ("NK cells kept alive with IL-2", study(iv("Expanded NK cells", "BIOLOGICAL"), iv("IL-2")), {"immunotherapy"}),
    ("tocilizumab for CRS beside an engager",
     study(iv("Flotetuzumab", "BIOLOGICAL"), iv("Tocilizumab")), {"immunotherapy"}),
    ("tocilizumab with chemotherapy", study(iv("Tocilizumab"), iv("Idarubicin")), {"immunotherapy", "chemotherapy"}),
    # rule 3: conditioning
    ("conditioning alkylators are transplant only", study(iv("Busulfan"), iv("Fludarabine"), HSCT), {"transplant"}),
    ("busulfan without a transplant is chemotherapy", study(iv("Busulfan")), {"chemotherapy"}),
    ("TBI with transplant", study(iv("Total-Body Irradiation", "RADIATION"), HSCT), {"transplant"}),
    ("chemo timed as conditioning (day -N)",
     study(iv("Cytarabine", description="IV on days -7 to -3"), HSCT), {"transplant"}),
    ("induction chemo plus transplant",
     study(iv("Cytarabine"), iv("Daunorubicin"), HSCT), {"chemotherapy", "transplant"}),
    ("GVHD prophylaxis", study(iv("Tacrolimus"), iv("Mycophenolate Mofetil"), HSCT), {"transplant"}),
    ("in-vivo T-cell depletion antibody in a transplant", study(iv("alemtuzumab", "BIOLOGICAL"), HSCT), {"transplant"}),
    ("title: maintenance after transplant",
     study(iv("Azacitidine"), title="Azacitidine Maintenance After Allogeneic Transplant"),
     {"chemotherapy", "transplant"}),
    ("title: transplant-ineligible is not transplant",
     study(iv("Venetoclax"), title="Venetoclax in AML Ineligible for Transplant"),
     {"targeted"}),
    ("cyclosporine outside a transplant = MDR1 modulator",
     study(iv("Cyclosporine"), iv("Mitoxantrone")), {"targeted", "chemotherapy"}),
    # rule 4: supportive care only when tested
    ("G-CSF inside FLAG-IDA adds nothing",
     study(iv("Fludarabine"), iv("Cytarabine"), iv("Idarubicin"), iv("Filgrastim", "BIOLOGICAL")),
     {"chemotherapy"}),
    ("chemotherapy with or without G-CSF",
     study(iv("Cytarabine"), iv("Filgrastim", "BIOLOGICAL"), title="Chemotherapy With or Without G-CSF"),
     {"chemotherapy", "supportive"}),
    ("azole prophylaxis with venetoclax adds nothing", study(iv("Venetoclax"), iv("Posaconazole")), {"targeted"}),
    ("antifungal tested in a supportive-care study",
     study(iv("Posaconazole"), purpose="SUPPORTIVE_CARE"), {"supportive"}),
    ("mesna / allopurinol mandated by protocol",
     study(iv("Cytarabine"), iv("Mesna"), iv("Allopurinol")), {"chemotherapy"}),
    ("protectant named as the study's subject",
     study(iv("Amifostine"), iv("Cytarabine"), title="Amifostine and Combination Chemotherapy"),
     {"chemotherapy", "supportive"}),
    ("behavioural intervention", study(iv("Individualized Yoga", "BEHAVIORAL")), {"supportive"}),
    ("CMV vaccine is infection prevention",
     study(iv("CMV peptide vaccine", "BIOLOGICAL"), purpose="PREVENTION"), {"supportive"}),
    ("GVHD-prevention study: tested drug is transplant",
     study(iv("Vorinostat"), iv("Tacrolimus"), purpose="SUPPORTIVE_CARE",
                                                               title="Vorinostat in Preventing GVHD After Transplant"),
     {"transplant", "supportive"}),
    # rules 5, 6
    ("IL-2 against the leukemia", study(iv("aldesleukin", "BIOLOGICAL")), {"immunotherapy", "experimental"}),
    ("interferon against the leukemia",
     study(iv("recombinant interferon alfa", "BIOLOGICAL")), {"immunotherapy", "experimental"}),
    ("donor lymphocyte infusion",
     study(iv("Donor Lymphocyte Infusion (DLI)", "BIOLOGICAL")), {"immunotherapy", "transplant"}),
    ("IL-2 supporting donor lymphocytes",
     study(iv("therapeutic allogeneic lymphocytes", "BIOLOGICAL"), iv("aldesleukin")),
     {"immunotherapy", "transplant"}),
    # rule 7: placebo, unnamed standard of care, lab procedures
    ("placebo adds nothing", study(iv("Venetoclax"), iv("Placebo")), {"targeted"}),
    ("unnamed standard of care", study(iv("Standard of care", "OTHER")), {"other"}),
    ("lab procedure only", study(iv("Laboratory Biomarker Analysis", "OTHER")), {"other"}),
    ("observational study", study(iv("CPX-351"), study_type="OBSERVATIONAL"), {"other"}),
    # rule 9: asparaginase
    ("asparaginase in a chemotherapy backbone",
     study(iv("Asparaginase"), iv("Cytarabine"), iv("Daunorubicin")), {"chemotherapy"}),
    ("asparaginase-type enzyme as the investigational agent",
     study(iv("Venetoclax and pegcrisantaspase")), {"targeted", "experimental"}),
    # rule 10 and others
    ("ATRA + arsenic", study(iv("Tretinoin"), iv("Arsenic Trioxide")), {"targeted"}),
    ("lenalidomide", study(iv("Lenalidomide")), {"immunotherapy"}),
    ("CD33-deleted graft + Mylotarg",
     study(iv("VOR33", "BIOLOGICAL"), iv("Mylotarg")), {"targeted", "transplant", "experimental"}),
    ("enzyme therapy", study(iv("PEG- BCT-100")), {"experimental"}),
    # code-named agents
    ("code name placed by its class in the summary",
     study(iv("XYZ-123"), summary="XYZ-123, an oral FLT3 inhibitor, is given daily."),
     {"targeted"}),
    ("code name engager placed by its class",
     study(iv("QQ-4567"), summary="QQ-4567 is a CD33 x CD3 bispecific T-cell engager."),
     {"immunotherapy"}),
    ("unknown code name: unrecognised, never guessed (rule 11)", study(iv("ZZ-9876")), {"other"}),
    ("unknown code name beside a known drug adds nothing", study(iv("ZZ-9876"), iv("Azacitidine")), {"chemotherapy"}),
    ("unknown -tinib placed by its stem", study(iv("Zorbatinib")), {"targeted"}),
    ("antigen-first CAR name", study(iv("CD123CAR-T cells", "BIOLOGICAL")), {"immunotherapy"}),
    ("TCR alpha/beta depletion is graft engineering, not TCR-T",
     study(iv("TCR alpha/beta depleted haploidentical graft", "BIOLOGICAL")), {"transplant"}),
    ("cord blood-derived NK cells are cells, not a transplant",
     study(iv("Cord blood-derived NK cells", "BIOLOGICAL")), {"immunotherapy"}),
    ("generic chemotherapy is chemotherapy (rule 12)", study(iv("Chemotherapy regimen 1")), {"chemotherapy"}),
    ("clofarabine inside conditioning is transplant only (rule 12)",
     study(iv("Clofarabine", description="conditioning on days -6 to -2"), HSCT), {"transplant"}),
    ("infection vaccine is supportive", study(iv("Recombinant zoster vaccine", "BIOLOGICAL"),
                                              purpose="PREVENTION"), {"supportive"}),
    ("exercise is supportive", study(iv("Aerobic exercise program", "BEHAVIORAL")), {"supportive"}),
    # titles and arm descriptions name drugs the intervention list leaves out
    ("drug named only in the title",
     study(iv("Azacitidine"), title="Venetoclax Plus Azacitidine in AML"), {"targeted", "chemotherapy"}),
    ("drug named only in an arm description",
     study(iv("Venetoclax"), arms=(ArmGroup("A", description="venetoclax with decitabine"),)),
     {"targeted", "chemotherapy"}),
    ("title drug after 'failure of' is not given",
     study(iv("Venetoclax"), title="Venetoclax After Failure of Azacitidine"), {"targeted"}),
]


@pytest.mark.parametrize(("snippet", "facts", "expected"), CASES, ids=[c[0] for c in CASES])
def test_category_rules(snippet: str, facts: StudyFacts, expected: set[str]) -> None:
    assert set(classify(facts).categories) == expected, classify(facts).evidence


def test_targets_from_drugs() -> None:
    cls = classify(study(iv("gilteritinib"), iv("SNDX-5613"), iv("anti-CLL-1 CAR-T cells", "BIOLOGICAL")))
    assert {"FLT3", "KMT2A", "CLL-1"} <= set(cls.targets)


def test_evidence_names_intervention_and_class() -> None:
    cls = classify(study(iv("gilteritinib"), iv("venetoclax")))
    assert "gilteritinib — FLT3 inhibitor" in cls.evidence["targeted"]
    assert "venetoclax — BCL-2 inhibitor" in cls.evidence["targeted"]


@pytest.fixture(scope="module")
def fixture_studies() -> list[StudyFacts]:
    return load_studies(AML_STUDIES)


def test_every_fixture_gets_categories_evidence_and_alignment(fixture_studies: list[StudyFacts]) -> None:
    for facts in fixture_studies:
        cls = classify(facts)
        assert cls.categories, facts.nct_id
        assert set(cls.categories) <= set(CATEGORY_KEYS) | {"other"}
        assert list(cls.categories) == sorted(cls.categories, key=[*CATEGORY_KEYS, "other"].index)
        assert ("other" in cls.categories) == (cls.categories == ("other",))
        assert set(cls.evidence) == set(cls.categories) and all(cls.evidence.values()), facts.nct_id
        assert len(cls.by_intervention) == len(facts.interventions)
        assert all(set(p) <= set(cls.categories) for p in cls.by_intervention), facts.nct_id


def test_labels_descriptions_and_rules_table() -> None:
    assert set(CATEGORY_LABELS) == set(CATEGORY_DESCRIPTIONS) == {*CATEGORY_KEYS, "other"}
    table = rules_table()
    assert list(table.columns) == ["term", "kind", "category", "group", "target", "note", "source"]
    assert len(table) > 1000 and table["note"].str.len().gt(0).all() and table["source"].str.len().gt(0).all()
    assert not table.duplicated(["term", "kind"]).any()
    assert (table["term"] == "revumenib").any()


def test_unrecognised_interventions_are_reported() -> None:
    cls = classify(study(iv("ZZ-9876"), iv("Azacitidine")))
    assert cls.unrecognised == ("ZZ-9876",)
    assert "unrecognised intervention: ZZ-9876" in classify(study(iv("ZZ-9876"))).evidence["other"]
