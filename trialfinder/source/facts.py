"""StudyFacts: the plain, JSON-free view of one study that the classifiers read.

Built only by :func:`trialfinder.source.normalize.study_facts`; classifiers never see raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Intervention(NamedTuple):  # a NamedTuple: immutable, and built several times faster than a frozen dataclass
    type: str  # API enum: DRUG, BIOLOGICAL, PROCEDURE, RADIATION, GENETIC, DEVICE, BEHAVIORAL, ... or ""
    name: str
    other_names: tuple[str, ...] = ()
    description: str = ""
    arm_group_labels: tuple[str, ...] = ()


class ArmGroup(NamedTuple):
    label: str
    type: str = ""  # EXPERIMENTAL, ACTIVE_COMPARATOR, PLACEBO_COMPARATOR, ... or ""
    description: str = ""
    intervention_names: tuple[str, ...] = ()


@dataclass
class StudyFacts:  # not frozen: a frozen dataclass is markedly slower to build, and one is built per study
    nct_id: str
    title: str = ""
    official_title: str = ""
    acronym: str = ""
    brief_summary: str = ""
    detailed_description: str = ""
    conditions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    study_type: str = ""  # INTERVENTIONAL, OBSERVATIONAL, EXPANDED_ACCESS or ""
    primary_purpose: str = ""  # TREATMENT, SUPPORTIVE_CARE, PREVENTION, ... or ""
    phases: tuple[str, ...] = ()
    eligibility: str = ""
    interventions: tuple[Intervention, ...] = field(default_factory=tuple)
    arm_groups: tuple[ArmGroup, ...] = field(default_factory=tuple)
    #: the classifiers' normalised texts of this study, made once by :func:`trialfinder.classify.texts.texts`
    #: (not compared, not shown)
    prepared: Any = field(default=None, compare=False, repr=False)
