"""Review: walking the photos left in Unknown and acting on a person's decision.

``session`` is the façade the CLI and the app drive; ``queue`` is the list of photos waiting, read from the
report; ``candidates`` recomputes a face's top-3 against the KB as it is now; ``actions`` carries out a
decision on the files, the KB and the report (one report rewrite per decision, a journal entry first so a crash
is resumable); ``clusters`` groups unknown faces that look alike so they can be named together.
"""
