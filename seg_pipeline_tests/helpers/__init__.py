"""Test and tooling helpers that drive real external programs (dagster-webserver, headless Chromium).

They live outside the ``seg_pipeline`` package: the pipeline never runs them, only the tests and
``scripts/screenshots.py`` do.
"""
