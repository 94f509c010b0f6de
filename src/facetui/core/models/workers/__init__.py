"""The analysis worker processes: ``start`` says how many and starts them from a forkserver preloaded with what
analysis imports; ``serverexit`` makes that server, and every worker forked from it, leave with the run."""
