"""Results: the record's contract (:mod:`~bench.results.record`), the one store every writer and reader goes
through (:mod:`~bench.results.store`), its index, provenance, and the one comparability rule
(:mod:`~bench.results.comparability`). Knows task specs and scoring; never encodes."""
