"""The Gradio workbench (``python app.py``): see where a learned, ROI-aware codec puts its bits.

``workbench`` (one session's image, caches and panel data) and ``sweep`` (R-D curves) run without
gradio; ``visuals`` draws the panels, ``files`` stores what the browser shows and downloads,
``views`` turns a session into panel values, and ``ui`` is the thin Gradio layer (``build_app``).
"""
