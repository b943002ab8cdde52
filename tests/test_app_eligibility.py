"""The app's "About me" panel (issue 18): private by default — the patient's details reach the page
address only when she ticks "include my details in the link" — and the verdicts it gives.

The urlstate functions are tested on their own; the page is driven headless with AppTest on the
bundled snapshot (an empty temporary cache dir), offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from trialfinder.find.filters import APP_DEFAULT
from trialfinder.find.profile import Profile
from trialfinder.present import urlstate

APP = Path(__file__).resolve().parent.parent / "app.py"
ME = Profile(age=67.0, ecog=2, prior=("venetoclax", "hma"), prior_lines=2, prior_transplant=True,
             transplant_days=200, markers=("FLT3",))
PRIVATE_KEYS = {"me_age", "me_ecog", "me_prior", "me_lines", "me_tx", "me_txdays", "me_marker", "me_hide"}


# --- the link ---------------------------------------------------------------------------------

def test_the_profile_is_not_in_the_link_by_default() -> None:
    params = urlstate.spec_to_params(APP_DEFAULT.with_(profile=ME, hide_excluded=True))
    assert not PRIVATE_KEYS & set(params)
    assert params == urlstate.spec_to_params(APP_DEFAULT)


def test_the_profile_is_in_the_link_when_she_ticks_the_box() -> None:
    spec = APP_DEFAULT.with_(profile=ME, hide_excluded=True, share_profile=True)
    params = urlstate.spec_to_params(spec)
    assert params["me_ecog"] == "2" and params["me_prior"] == "venetoclax,hma" and params["me_tx"] == "yes"
    assert params["me_hide"] == "1"
    back, problems = urlstate.spec_from_params(params)
    assert problems == []
    assert back.profile == ME and back.share_profile and back.hide_excluded


def test_widgets_resolve_the_profile_and_keep_it_private() -> None:
    values = {**urlstate.widget_values(APP_DEFAULT), "me_ecog": 1, "me_prior": ["venetoclax"], "me_transplant": "no",
              "me_markers": ["FLT3"]}
    spec, problems, _ = urlstate.spec_from_widgets(values, locate=lambda text: pytest.fail("no place typed"))
    assert problems == []
    assert spec.profile == Profile(ecog=1, prior=("venetoclax",), prior_transplant=False, markers=("FLT3",))
    assert not PRIVATE_KEYS & set(urlstate.spec_to_params(spec))
    assert urlstate.widget_values(spec)["me_ecog"] == 1


def test_an_empty_panel_is_no_profile() -> None:
    spec, _, _ = urlstate.spec_from_widgets(urlstate.widget_values(APP_DEFAULT), locate=lambda text: None)
    assert spec.profile is None


def test_bad_details_in_a_link_are_reported_not_raised() -> None:
    spec, problems = urlstate.spec_from_params({"me_ecog": "9", "me_prior": "aspirin", "me_marker": "FLT3"})
    assert spec.profile == Profile(markers=("FLT3",))
    assert any("me_ecog" in p for p in problems) and any("me_prior" in p for p in problems)


# --- the page ---------------------------------------------------------------------------------

@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in ("TRIALFINDER_API_URL", "TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIALFINDER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "app-eligibility-cache"))


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_about_me_panel_gives_verdicts_and_stays_out_of_the_link(app_env: None) -> None:
    at = run(AppTest.from_file(str(APP), default_timeout=120))
    assert "verdict" not in at.dataframe[0].value  # no details, no verdicts
    at.selectbox(key="me_ecog").set_value(4)
    at.multiselect(key="me_prior").set_value(["venetoclax"])
    run(at)
    table = at.dataframe[0].value
    verdicts = table["verdict"].tolist()
    assert "likely excluded" in verdicts
    assert verdicts.index("likely excluded") == len(verdicts) - verdicts.count("likely excluded")  # last
    assert any(c.value.startswith("For your details:") for c in at.markdown)
    assert not PRIVATE_KEYS & set(at.query_params)  # private by default
    at.checkbox(key="me_hide").check()
    run(at)
    assert "likely excluded" not in at.dataframe[0].value["verdict"].tolist()
    at.checkbox(key="me_share").check()
    run(at)
    assert at.query_params["me_ecog"] == "4" and at.query_params["me_prior"] == "venetoclax"


def test_the_detail_shows_the_facts_with_their_sentences(app_env: None) -> None:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update({"status": "all", "setting": "all", "q": "NCT00462761", "me_ecog": "4"})
    run(at)
    facts = next(d.value for d in at.dataframe if "fact" in d.value)
    ecog = facts[facts["fact"] == "Worst ECOG performance status allowed"].iloc[0]
    assert ecog["value"] == "3" and "performance status of 0-3" in ecog["from the criteria"]
    assert any(t.value == "For your details: likely excluded" for t in at.text)
    assert at.checkbox(key="me_share").value  # a link that carried details keeps sharing them
