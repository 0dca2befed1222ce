"""The outer layer: REST API, search box and the ``askdocs`` CLI, wired from ``Settings``."""
