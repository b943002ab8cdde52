"""The patient profile (trialfinder.find.profile): parsing at the edge, the verdict of a trial's facts,
the sort and opt-in filter in search, the CLI options and what the exports and `show` print."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialfinder.classify.eligibility import Eligibility, extract
from trialfinder.cli import cli
from trialfinder.errors import InvalidInput
from trialfinder.find.filters import FilterSpec, search
from trialfinder.find.profile import Profile, parse_ecog, parse_markers, parse_prior, verdict
from trialfinder.find.tables import build_tables
from trialfinder.source.store import Dataset, DatasetMeta

RR_TRIAL = extract(
    "Inclusion Criteria:\n* Relapsed or refractory AML\n* ECOG performance status 0-2\n* Documented FLT3 mutation\n"
    "Exclusion Criteria:\n* Prior treatment with gilteritinib\n* Prior allogeneic stem cell transplant\n"
    "* Acute promyelocytic leukemia\n* More than 2 prior regimens for AML")
UNTREATED_TRIAL = extract("Inclusion Criteria:\n* Previously untreated AML\n* ECOG 0-1")
EMPTY = Eligibility()


# --- parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("venetoclax,hma", ("venetoclax", "hma")),
    (["Aza", "7+3"], ("hma", "intensive_chemotherapy")),
    ("gilteritinib, menin", ("flt3_inhibitor", "menin_inhibitor")),
    ("none", ()),
])
def test_parse_prior(raw: object, expected: tuple[str, ...]) -> None:
    assert parse_prior(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("FLT3", ("FLT3",)), ("flt3, mll", ("FLT3", "KMT2A")), (["CLEC12A", "nras"], ("CLL-1", "RAS")), ("none", ()),
])
def test_parse_markers(raw: object, expected: tuple[str, ...]) -> None:
    assert parse_markers(raw) == expected


@pytest.mark.parametrize("call, value", [(parse_prior, "aspirin"), (parse_markers, "HER2"), (parse_ecog, "5"),
                                         (parse_ecog, "1.5"), (parse_ecog, "good")])
def test_bad_profile_values_say_what_to_do(call, value: str) -> None:
    with pytest.raises(InvalidInput, match="use one of|give"):
        call(value)


# --- the verdict ------------------------------------------------------------------------------

@pytest.mark.parametrize("facts, profile, kind, about", [
    (RR_TRIAL, Profile(ecog=1, prior=("venetoclax",), prior_lines=1, prior_transplant=False, markers=("FLT3",)),
     "no_conflict", ""),
    (RR_TRIAL, Profile(ecog=3, prior=("venetoclax",), prior_lines=1, prior_transplant=False, markers=("FLT3",)),
     "likely_excluded", "ECOG 3 is above the 2 allowed"),
    (RR_TRIAL, Profile(ecog=1, prior=("flt3_inhibitor",), prior_lines=1, prior_transplant=False, markers=("FLT3",)),
     "likely_excluded", "prior flt3 inhibitor excludes"),
    (RR_TRIAL, Profile(ecog=1, prior=("hma",), prior_lines=1, prior_transplant=True, markers=("FLT3",)),
     "likely_excluded", "a prior allogeneic transplant is excluded"),
    (RR_TRIAL, Profile(ecog=1, prior=("hma",), prior_lines=1, prior_transplant=False, markers=("IDH1",)),
     "likely_excluded", "requires FLT3"),
    (RR_TRIAL, Profile(ecog=1, prior=("hma",), prior_lines=3, prior_transplant=False, markers=("FLT3",)),
     "likely_excluded", "3 prior lines, more than the 2 allowed"),
    (RR_TRIAL, Profile(ecog=1, prior=(), prior_transplant=False, markers=("FLT3",)),
     "likely_excluded", "prior any prior therapy required"),
    (RR_TRIAL, Profile(ecog=1), "check", "a prior allogeneic transplant is excluded; not answered"),
    (UNTREATED_TRIAL, Profile(prior=("hma",)), "likely_excluded", "untreated patients only"),
    (UNTREATED_TRIAL, Profile(ecog=0, prior=()), "no_conflict", ""),
    (EMPTY, Profile(ecog=4, prior=("car_t",)), "no_conflict", ""),
    (extract(""), Profile(ecog=1), "check", "the registry record gives no eligibility criteria"),
    (extract("Inclusion Criteria:\n* Relapsed AML"), Profile(prior_transplant=True), "check",
     "the criteria do not say whether a prior allogeneic transplant is allowed"),
])
def test_verdict(facts: Eligibility, profile: Profile, kind: str, about: str) -> None:
    judged = verdict(facts, profile)
    assert judged.kind == kind
    if about:
        assert about in [r.criterion for r in judged.reasons]
    else:
        assert judged.reasons == ()


AFTER_100_DAYS = extract("Inclusion Criteria:\n* Relapsed AML\n* Prior allogeneic HSCT allowed if ≥ 100 days from "
                         "transplant and no active GVHD")
WINDOW_EXCLUDED = extract("Inclusion Criteria:\n* Relapsed AML\nExclusion Criteria:\n* Allogeneic HSCT within 3 months "
                          "before the first dose")
MAINTENANCE = extract("Inclusion Criteria:\n* AML in remission after allogeneic HSCT\n* Between day 30 and day 100 "
                      "after allogeneic transplant")


@pytest.mark.parametrize("facts, days, kind, about", [
    (AFTER_100_DAYS, 60, "likely_excluded", "transplant 60 days ago; the criterion asks at least 100 days after the "
                                            "transplant"),
    (AFTER_100_DAYS, 150, "check", "a prior allogeneic transplant is allowed under conditions"),
    (AFTER_100_DAYS, None, "check", "the criterion asks at least 100 days after the transplant; days since yours not "
                                    "given"),
    (WINDOW_EXCLUDED, 45, "likely_excluded", "transplant 45 days ago; the criterion asks at least 90 days after the "
                                             "transplant"),
    (WINDOW_EXCLUDED, 400, "check", "a prior allogeneic transplant is allowed under conditions"),
    (MAINTENANCE, 120, "likely_excluded", "transplant 120 days ago; the criterion asks 30–100 days after the "
                                          "transplant"),
    (MAINTENANCE, 20, "likely_excluded", "transplant 20 days ago; the criterion asks 30–100 days after the transplant"),
])
def test_days_since_transplant_against_the_stated_window(facts: Eligibility, days: int | None, kind: str,
                                                         about: str) -> None:
    judged = verdict(facts, Profile(prior=("hma",), prior_transplant=True, transplant_days=days))
    assert judged.kind == kind
    assert about in [r.criterion for r in judged.reasons]


def test_a_window_met_by_a_required_transplant_raises_nothing() -> None:
    assert MAINTENANCE.prior_allo_hct == "required" and MAINTENANCE.allo_days == (30, 100)
    judged = verdict(MAINTENANCE, Profile(prior=("hma",), prior_transplant=True, transplant_days=60))
    assert judged.kind == "no_conflict"


def test_a_conflict_names_the_criterion_sentence() -> None:
    judged = verdict(RR_TRIAL, Profile(ecog=3, prior=("flt3_inhibitor",)))
    sentences = {r.criterion: r.sentence for r in judged.reasons if r.kind == "likely_excluded"}
    assert sentences["ECOG 3 is above the 2 allowed"] == "ECOG performance status 0-2"
    assert sentences["prior flt3 inhibitor excludes"] == "Prior treatment with gilteritinib"
    assert [r.kind for r in judged.reasons] == sorted((r.kind for r in judged.reasons), reverse=True)


def test_age_outside_the_trial_limits() -> None:
    judged = verdict(EMPTY, Profile(age=70), min_age=18, max_age=65)
    assert judged.kind == "likely_excluded" and "outside the trial's ages (18–65)" in judged.reasons[0].criterion
    assert verdict(EMPTY, Profile(age=40), min_age=18, max_age=float("nan")).kind == "no_conflict"


# --- in search: labelled, sorted last, hidden only on request ---------------------------------

@pytest.fixture(scope="module")
def tables(fixture_studies: list[dict]):
    return build_tables(Dataset(studies=fixture_studies, meta=DatasetMeta(source="snapshot", data_timestamp="2025-03",
                                                                          fetched_at=None)))


def test_search_labels_every_trial_and_sorts_likely_excluded_last(tables) -> None:
    profile = Profile(ecog=3, prior=("intensive_chemotherapy",), prior_transplant=True)
    result = search(tables, FilterSpec(profile=profile))
    kinds = result.studies["verdict"].tolist()
    assert len(kinds) == len(tables.studies)  # nothing hidden
    assert {"likely_excluded", "no_conflict"} <= set(kinds)
    first_excluded = kinds.index("likely_excluded")
    assert set(kinds[first_excluded:]) == {"likely_excluded"}
    hidden = search(tables, FilterSpec(profile=profile, hide_excluded=True))
    assert len(hidden.studies) == first_excluded and "likely_excluded" not in set(hidden.studies["verdict"])
    assert hidden.describe().endswith("hiding trials I am likely excluded from")


def test_search_without_a_profile_has_no_verdict(tables) -> None:
    assert "verdict" not in search(tables, FilterSpec()).studies


# --- the CLI ----------------------------------------------------------------------------------

def run(args: list[str], cache: Path) -> tuple[int, str, str]:
    env = {"TRIALFINDER_API_URL": None, "TRIALFINDER_SNAPSHOT_DIR": None, "TRIALFINDER_OFFLINE": None,
           "TRIALFINDER_CACHE_DIR": str(cache)}
    result = CliRunner().invoke(cli, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_has_facts_evidence_and_verdict(tmp_path: Path) -> None:
    code, out, _ = run(["search", "--format", "json", "--status", "all", "--ecog", "3", "--prior", "hma",
                        "--no-prior-transplant", "--marker", "FLT3"], tmp_path)
    assert code == 0
    payload = json.loads(out)
    assert "ECOG 3" in payload["search"]["profile"]
    trial = payload["trials"][0]
    facts = trial["eligibility"]
    assert set(facts) == {"max_ecog", "prior_allo_hct", "required_markers", "excluded_markers",
                          "required_prior_therapies", "excluded_prior_therapies", "max_prior_lines", "evidence"}
    assert trial["verdict"] in {"no conflict found", "check with the trial team", "likely excluded"}
    verdicts = [t["verdict"] for t in payload["trials"]]
    assert verdicts.index("likely excluded") == len(verdicts) - verdicts.count("likely excluded")
    excluded = next(t for t in payload["trials"] if t["verdict"] == "likely excluded" and t["eligibility"]["max_ecog"]
                    is not None and t["eligibility"]["max_ecog"] < 3)
    assert "ECOG 3 is above" in excluded["verdict_reasons"]
    assert excluded["eligibility"]["evidence"]["max_ecog"][0] in excluded["verdict_reasons"]


def test_cli_csv_gains_verdict_columns_last(tmp_path: Path) -> None:
    code, out, _ = run(["search", "--format", "csv", "--status", "all", "--ecog", "1", "--hide-excluded"], tmp_path)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[-2:] == ["verdict", "verdict_reasons"]
    assert rows and all(r["verdict"] != "likely excluded" for r in rows)


def test_cli_bad_profile_option_is_one_line(tmp_path: Path) -> None:
    code, _, err = run(["search", "--ecog", "7"], tmp_path)
    assert code == 2 and "ECOG '7' is out of range" in err and "Traceback" not in err
    code, _, err = run(["search", "--hide-excluded"], tmp_path)
    assert code == 2 and "--hide-excluded needs your details" in err


def test_cli_show_prints_facts_with_sentences_and_the_verdict(tmp_path: Path) -> None:
    code, out, _ = run(["show", "NCT00462761", "--ecog", "4"], tmp_path)  # a real record: AC220, ECOG 0-3
    assert code == 0
    assert "Worst ECOG performance status allowed: 3" in out
    assert "“Eastern Cooperative Oncology Group (ECOG) performance status of 0-3;”" in out
    assert "For you: likely excluded" in out and "ECOG 4 is above the 3 allowed" in out
