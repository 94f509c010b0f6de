"""The Ray engine: the local engine's worker function run by actors on a Ray cluster, with the driver (the run's
process) still the single writer. Ray is an optional extra, imported only when this engine is asked for.

``engine`` is the engine itself (CPU actors, one photo each, retried once when one dies); ``gpu`` the GPU actors
that finish photos in batches where the cluster has GPUs; ``slots`` either kind's actor slots (up, replaced, the
watchdog); ``cluster`` reaching the cluster (or starting a local one); ``watch`` the process that ends a local
cluster with the run.
"""
