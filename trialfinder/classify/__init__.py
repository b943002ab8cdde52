"""What a study gives: treatment categories with their evidence, the disease setting, biomarkers,
and the evaluation against hand labels. ``rules/`` holds the clinician-readable tables (CSV, one row
per rule) and the plain engine that applies them; ``texts`` prepares a study's texts once.

Reads ``source.facts.StudyFacts`` (made by ``source.normalize``), never raw JSON.
May import: ``trialfinder.source``, ``trialfinder.errors``, ``trialfinder.labels``.
"""
