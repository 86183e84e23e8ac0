"""What is read from the results store: the leaderboard, the CI gate, MTEB export, pairwise compare, training
curves and the published reference numbers. Reads results only (through :mod:`bench.results`): it never
loads a model or encodes."""
