"""The UI-free core of facetui: plain Python that the CLI (``facetui.cli``) and the app (``facetui.tui``) drive.

Five layers, one sub-package each, imports pointing down only (import-linter checks it in CI):
``evaluation`` and ``review`` -> ``run`` -> ``stores`` -> ``models`` -> ``base``. See ARCHITECTURE.md.
"""
