"""Where data comes from: the settings, the HTTP session (cache, retries, rate limit, size and time
bounds), the search query and its parameters, the API v2 client, the one module that knows the API's
JSON (``normalize``: records into facts and table rows), and the data-set store (``database``: SQLite
or PostgreSQL).

May import: ``trialfinder.errors``, ``trialfinder.labels`` and ``trialfinder.sanitize`` only. Nothing
here classifies, filters or renders.
"""
