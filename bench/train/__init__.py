"""Siamese (bi-encoder) fine-tuning with sentence-transformers' trainer, then evaluation by the harness.

    python -m bench.train                                   # embedded model, CoSENT on CDSC-R train
    python -m bench.train train=relatedness_all train.epochs=3
    python -m bench.train model=herbert train=nli_softmax   # a raw encoder gets the recipe's pooling

Modules: :mod:`~bench.train.data` (train/validation splits -> datasets; the test split is never
read), :mod:`~bench.train.objectives` (losses, Matryoshka), :mod:`~bench.train.sampler` (length-
grouped batches), :mod:`~bench.train.callbacks` (training time across resumes), :mod:`~bench.train.recipe` (the recipe
schema and checks), :mod:`~bench.train.lineage` (run identity, lineage), :mod:`~bench.train.loop` (the job:
model, trainer, checkpoint selection on validation with :class:`bench.BenchEvaluator`, saving, evaluation). The speed benchmark is ``benchmarks/train_speed.py``.
"""
