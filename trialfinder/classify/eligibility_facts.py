"""The seven eligibility facts of one study as a value (:class:`Eligibility`), and their vocabularies.

Apart from :mod:`.eligibility`, which reads them from a criteria text with the rule table: what holds,
stores, shows or compares the facts (the table file, the patient profile, the trial view) imports this
module alone, so it does not compile the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("max_ecog", "prior_allo_hct", "required_markers", "excluded_markers", "required_prior_therapies",
          "excluded_prior_therapies", "max_prior_lines")
SCALAR_FIELDS = ("max_ecog", "prior_allo_hct", "max_prior_lines")
SET_FIELDS = ("required_markers", "excluded_markers", "required_prior_therapies", "excluded_prior_therapies")
ALLO_VALUES = ("required", "excluded", "allowed", "not_stated")
MARKER_KEYS = ("FLT3", "IDH1", "IDH2", "NPM1", "KMT2A", "NUP98", "TP53", "CD33", "CD123", "CD70", "CLL-1", "RAS",
               "KIT", "PML-RARA", "BCR-ABL", "CBF")
THERAPY_KEYS = ("any_prior_therapy", "venetoclax", "hma", "intensive_chemotherapy", "flt3_inhibitor", "idh1_inhibitor",
                "idh2_inhibitor", "menin_inhibitor", "cd33_antibody", "checkpoint_inhibitor", "car_t")
ANY = "any_prior_therapy"


@dataclass(frozen=True)
class Eligibility:
    """The seven facts of one study, and for each value the criteria it came from."""

    max_ecog: int | None = None
    prior_allo_hct: str = "not_stated"
    required_markers: tuple[str, ...] = ()
    excluded_markers: tuple[str, ...] = ()
    required_prior_therapies: tuple[str, ...] = ()
    excluded_prior_therapies: tuple[str, ...] = ()
    max_prior_lines: int | None = None
    #: (fewest, most) days since the allogeneic transplant the prior_allo_hct sentences admit, when they
    #: state a window ("≥ 100 days after allogeneic HSCT" -> (100, None)); not one of the rule's facts
    allo_days: tuple[int | None, int | None] = (None, None)
    text_given: bool = True  # False: the record has no eligibility criteria (every fact is then unknown)
    #: field -> {value as text -> the criterion sentences it came from}
    evidence: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict, compare=False)

    def facts(self) -> dict[str, Any]:
        """The seven facts as the rule writes them (JSON-ready: lists, not tuples)."""
        return {name: list(v) if isinstance(v := getattr(self, name), tuple) else v for name in FIELDS}

    def evidence_for(self, name: str, value: Any = None) -> tuple[str, ...]:
        """The sentences behind ``name`` (one value of a set field, or the scalar's value)."""
        by_value = self.evidence.get(name, {})
        if value is None:
            return tuple(dict.fromkeys(s for sentences in by_value.values() for s in sentences))
        return by_value.get(str(value), ())

    def to_json(self) -> dict[str, Any]:
        """Everything, JSON-ready (for a table cache that stores plain values): see :meth:`from_json`."""
        evidence = {name: {v: list(s) for v, s in by_value.items()} for name, by_value in self.evidence.items()}
        return {**self.facts(), "allo_days": list(self.allo_days), "text_given": self.text_given,
                "evidence": evidence}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Eligibility":
        """The facts :meth:`to_json` wrote, as they were."""
        values: dict[str, Any] = {name: tuple(data[name]) if name in SET_FIELDS else data[name] for name in FIELDS}
        evidence = {name: {v: tuple(s) for v, s in by_value.items()} for name, by_value in data["evidence"].items()}
        low, high = data.get("allo_days") or (None, None)
        return cls(**values, allo_days=(low, high), text_given=bool(data.get("text_given", True)), evidence=evidence)

    def evidence_json(self) -> dict[str, Any]:
        """{field: [sentences]} for the scalars, {field: {value: [sentences]}} for the sets."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            by_value = self.evidence.get(name, {})
            if name in SCALAR_FIELDS:
                out[name] = list(self.evidence_for(name))
            else:
                out[name] = {value: list(sentences) for value, sentences in by_value.items()}
        return out
