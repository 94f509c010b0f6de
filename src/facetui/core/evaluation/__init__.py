"""Evaluation: how well the settings sort a labelled folder, and which settings would sort it better.

``truth`` reads the labels (``truth.csv`` or folder names); ``evaluate`` runs recognition on them without
filing anything, and ``record`` writes what it found to eval.csv and eval-run.toml; ``scores`` counts recall,
wrong filings and strangers; ``tune`` searches the decision rule's settings jointly in numpy (replaying
``run.decide`` exactly); ``rules`` compares candidate rules; ``kbadvice`` says which KB people need more or
better photos.
"""
