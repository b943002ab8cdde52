"""What a study gives: treatment categories with their evidence, the disease setting, biomarkers,
and the evaluation against hand labels. ``rules/`` holds the clinician-readable tables (CSV, one row
per rule) and the plain engine that applies them; ``texts`` prepares a study's texts once.
Each rule table is read and compiled on first use, not on import: importing a module for its keys
(``CATEGORY_KEYS``, ``DISEASE_SETTING_KEYS``) compiles nothing, and ``eligibility_facts`` holds the
eligibility facts' value alone (what stores or shows them imports it, not the rules).

Reads ``source.facts.StudyFacts`` (made by ``source.normalize``), never raw JSON.
May import: ``trialfinder.source``, ``trialfinder.errors``, ``trialfinder.labels``.
"""
