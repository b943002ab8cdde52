"""Settings: every number from the environment is checked where it enters (issue 15, defect 11), and
the bounds of a refresh (response size, deadline, page ceiling) are settings with defaults."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialfinder.cli import cli
from trialfinder.errors import InvalidInput
from trialfinder.source.settings import BOUNDS, ENV, Settings

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = sorted(BOUNDS)
BAD = ["0", "-1", "-5", "nan", "inf", "-inf", "1e309", "soon", "0x10"]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("name", NUMBERS)
def test_a_bad_number_is_a_one_line_usage_error(name: str, value: str, tmp_path: Path) -> None:
    env = {var: None for var in ENV.values()} | {"TRIALFINDER_CACHE_DIR": str(tmp_path), ENV[name]: value}
    result = CliRunner().invoke(cli, ["fetch"], env=env)  # refused before anything is fetched
    assert result.exit_code == 2, (name, value, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trialfinder: error: "), result.stderr
    assert ENV[name] in lines[0] and repr(value) in lines[0] and "from" in lines[0]
    assert "internal error" not in lines[0]


@pytest.mark.parametrize("name", NUMBERS)
def test_the_bounds_are_inclusive_and_reach_the_settings(name: str) -> None:
    low, high, _ = BOUNDS[name]
    for value in (low, high, (low + high) / 2 if name != "max_pages" else 200):
        text = f"{value:g}" if name != "max_pages" else str(int(value))
        settings = Settings.from_env({ENV[name]: text})
        assert math.isclose(getattr(settings, name), float(text))
    with pytest.raises(InvalidInput):
        Settings.from_env({ENV[name]: repr(high * 1.01 + 1)})
    with pytest.raises(InvalidInput):  # a value given in code is checked too
        Settings(**{name: 0})


def test_the_new_bounds_have_sensible_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.max_response_bytes == 50_000_000
    assert settings.refresh_deadline == 600.0
    assert settings.max_pages == 200 and settings.max_pages * settings.page_size == 200_000
    assert Settings.from_env({"TRIALFINDER_MAX_RESPONSE_MB": "0.5"}).max_response_bytes == 500_000
    with pytest.raises(InvalidInput, match="whole number"):
        Settings.from_env({"TRIALFINDER_MAX_PAGES": "2.5"})


def test_every_environment_variable_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert [var for var in ENV.values() if var not in readme] == []


def test_credentials_are_split_off_the_api_url() -> None:
    settings = Settings(api_url="https://al%40ce:p%3Aw@example.org:8443/api/v2")
    assert settings.api_base == "https://example.org:8443/api/v2"
    assert settings.api_credentials == ("al@ce", "p:w")
    plain = Settings(api_url="https://example.org/api/v2")
    assert plain.api_base == plain.api_url and plain.api_credentials is None
