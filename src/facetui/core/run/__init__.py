"""Run: one job over a folder, as a generator of events (no UI here).

``setup`` is the start every job shares (check folders, load the KB, body set-up, cache, notices); ``analyzer``
streams the photos through analysis (hash, cache look-up, results in input order, the body batches) and sends the
cache misses to an engine; ``engines`` is the sub-package of engines behind one typed seam (the local worker pool,
the device stage, Ray); ``jobloop`` is the loop every job runs its photos through (cancel, the engine's notices,
clean stops, the summary); ``decide`` is the decision rule (face first, body as fall-back); ``recognize`` files
each photo and writes the report; ``kbbuild`` builds the KB; ``render`` turns events into the one-line text both
faces show; ``timings`` adds up the seconds per stage for the benchmarks.
"""
