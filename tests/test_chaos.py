"""Seeded chaos: a few hundred refreshes against a server that flips between two versions of the
data and injects random faults. After every attempt the stored data set is exactly one complete
version (the one before, if the attempt failed; the one returned, if it succeeded)."""

from __future__ import annotations

import pytest
from faultcases import chaos_run


@pytest.mark.parametrize("seed", [20261126])
def test_chaos_never_stores_a_partial_or_mixed_data_set(seed: int, fixture_studies, tmp_path) -> None:
    summary = chaos_run(seed, 250, fixture_studies, tmp_path)
    print("\n".join(summary.lines()))
    assert summary.violations == []
    assert summary.attempts == 250
    assert summary.successes > 50 and sum(summary.failures.values()) > 50  # both paths exercised
    assert not any(k.startswith("CRASH") for k in summary.failures)
    assert {"A", "B"} <= set(summary.versions_stored) <= {"A", "B", "none"}  # the data really changed under it
    assert len(summary.faults) >= 12
