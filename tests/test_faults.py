"""The fault matrix (tests/faultcases.py): every fault ends in success or a one-line error of the
expected class, and the stored data set is always the last complete one — never a mix. It runs on
both stores: the embedded SQLite file and a real PostgreSQL (one database for the module, a copy of
the baseline schema per case).

This subsumes the end-to-end fault tests of test_client.py with a systematic table; the same table
is printed by ``benchmarks/faults.py``.
"""

from __future__ import annotations

import pytest
from faultcases import CASES, FaultLab


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lab(request, tmp_path_factory, fixture_studies):
    pg = request.getfixturevalue("pg") if request.param == "postgresql" else None
    lab = FaultLab(tmp_path_factory.mktemp("faults"), fixture_studies, backend=request.param, pg=pg)
    yield lab
    lab.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(lab: FaultLab, case) -> None:
    outcome = lab.run(case)
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert outcome.problems == [], outcome.verdict
    assert outcome.intact
    if outcome.gap_hit:
        pytest.xfail(f"known gap: {case.gap}")


def test_every_fault_kind_of_the_server_is_in_the_matrix() -> None:
    from apiserver import FAULT_KINDS

    used = {kind for case in CASES for kind, _ in case.inject}
    assert used == set(FAULT_KINDS)


def test_transient_faults_succeed_and_persistent_ones_fail() -> None:
    for case in CASES:
        times = [opts.get("times", 1) for _, opts in case.inject]
        if case.attempt == "refresh" and times and max(times) >= 20 and not any(
            opts.get("path") == "/version" for _, opts in case.inject
        ):
            assert case.expected != "success", case.name
