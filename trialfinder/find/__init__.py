"""Finding trials: the tidy tables (studies, sites, interventions) built from a data set and cached,
places and distances, the filters (each one applies and describes itself) and the exports.

May import: ``trialfinder.source``, ``trialfinder.classify``, ``trialfinder.errors``,
``trialfinder.labels``, ``trialfinder.sanitize``. Pure: nothing here prints, geocodes a user's text
during a search, or knows about Streamlit or click.
"""
