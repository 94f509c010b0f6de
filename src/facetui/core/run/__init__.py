"""Run: one job over a folder, as a generator of events (no UI here).

``setup`` is the start every job shares (check folders, load the KB, body set-up, cache, notices); ``pool``
is the local engine (hash, cache lookup, worker processes running ``models.analyze``); ``decide`` is the
decision rule (face first, body as fall-back); ``recognize`` files each photo and writes the report;
``kbbuild`` builds the KB; ``render`` turns events into the one-line text both faces show.
"""
