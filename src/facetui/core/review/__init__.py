"""Review: walking the photos left in Unknown and acting on a person's decision.

``session`` is the façade the CLI and the app drive; ``queue`` is the list of photos waiting, read from the
report; ``candidates`` recomputes a face's top-3 against the KB as it is now; ``actions`` carries out a
decision on the files (``copies``), the KB (``kb_rows``) and the report (``report_rows``): one report rewrite per
decision, the journal entry (the review log) written before our Unknown copy goes and the report changes, so a
rerun finishes a decision that a crash cut short; ``clusters`` groups unknown faces that look alike so they can be
named together, and ``order`` walks the queue cluster by cluster.
"""
