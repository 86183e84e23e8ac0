"""Cross-encoders: the reference bi-encoders are measured against (``python -m bench.cross``).

The recipe (:mod:`~bench.cross.recipe`, ``conf/cross/``), what each head learns and how it is scored
(:mod:`~bench.cross.heads`), and the job (:mod:`~bench.cross.loop`): train per task with selection on
validation, score the test pairs once, write a result the leaderboard sets beside the best bi-encoder.
"""
