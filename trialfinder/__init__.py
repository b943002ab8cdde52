"""TrialFinder: find clinical trials for relapsed or refractory acute myeloid leukemia."""

from __future__ import annotations

__version__ = "0.1.0"
