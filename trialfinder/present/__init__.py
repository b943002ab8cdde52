"""How results are shown: the URL codec and widget values of the app, the display tables, the results
list (escaped HTML), the sites map (view, packaged outlines, the map in words; pydeck), and one view of
one trial shared by ``trialfinder show`` and the app's detail.

May import: everything before it (``source``, ``classify``, ``find``), ``errors``, ``labels`` and ``sanitize``;
no Streamlit and no click (``app.py`` and ``cli/`` are the edges).
"""
