"""Run: one job over a folder, as a generator of events (no UI here).

``setup`` is the start every job shares (check folders, load the KB, body set-up, cache, notices); ``pool``
is the local engine (hash, cache lookup, results in input order); ``workers`` is what its worker processes run
(``models.analyze``, and OSNet on the CPU) and the thread that feeds them; ``decide`` is the
decision rule (face first, body as fall-back); ``recognize`` files each photo and writes the report;
``kbbuild`` builds the KB; ``render`` turns events into the one-line text both faces show.
"""
