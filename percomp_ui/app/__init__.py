"""The Gradio workbench (``python app.py``): see where a learned, ROI-aware codec puts its bits.

``workbench`` holds one session's image, caches and panel data and ``sweep`` the R-D curves, both
without gradio; ``visuals`` draws the panels, ``files`` writes what the browser downloads; ``ui``
is the thin Gradio layer (``build_app``) and ``server`` starts it.
"""
