"""Evaluation: how well the settings sort a labelled folder, and which settings would sort it better.

``truth`` reads the labels (``truth.csv`` or folder names); ``evaluate`` runs recognition on them without
filing anything; ``report`` holds what it found and its text, and ``record`` writes it to eval.csv and
eval-run.toml; ``scores`` counts recall, wrong filings and strangers; ``tune`` searches the decision rule's
settings jointly in numpy (replaying ``run.decide`` exactly); ``rules`` compares candidate rules; ``kbadvice``
says which KB people need more or better photos; ``clusterscore`` scores review's clusters of the Unknown faces;
``detectors`` compares face detectors.
"""
