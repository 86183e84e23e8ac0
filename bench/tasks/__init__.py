"""Tasks: their specs (``conf/task/*.yaml``), their data read from the original files or the Hugging Face Hub
into one validated form (:class:`~bench.tasks.schema.PairData`), target definitions, and MTEB's task objects
over the same data (for parity). Depends on scoring's metric names only."""
