"""Base: what every layer may use and which uses nothing of facetui.

``errors`` (``FacetuiError`` and its kinds, mapped to exit codes in one table), ``events`` (the dataclasses the
core yields and both faces render), ``settings`` (the settings file: spec, validation, atomic save) and
``fsutil`` (atomic writes, never-overwrite placement, names). Nothing here imports numpy, torch or dlib.
"""
