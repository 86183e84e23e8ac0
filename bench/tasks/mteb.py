"""MTEB's own task objects over bench's data: run MTEB itself on exactly the pairs bench scores.

Used to check that bench's metrics equal MTEB's (tests/test_mteb_parity.py) and to time MTEB beside
bench on the same data (benchmarks/speed.py); needs ``pip install mteb``.
"""

from __future__ import annotations


def mteb_tasks(data_root: str, names: set[str] | None = None) -> list:
    """MTEB's task objects for the Polish suite (or the bench task ``names``), holding bench's local test
    data instead of their hub download, evaluated on the test split only."""
    import mteb
    from datasets import Dataset, DatasetDict

    from bench.config import compose_config
    from bench.tasks.spec import load_task, task_specs

    specs = [spec for spec in task_specs(compose_config([f"data.root={data_root}"]).task)
             if names is None or spec.name in names]
    suite = {spec.mteb_name: (spec, load_task(spec, data_root, splits=(spec.eval_split,))[spec.eval_split])
             for spec in specs}
    tasks = mteb.get_tasks(tasks=list(suite), languages=["pol"], eval_splits=["test"])
    for task in tasks:
        spec, split = suite[task.metadata.name]
        target = "score" if spec.type == "sts" else "labels"
        data = DatasetDict({"test": Dataset.from_dict(
            {"sentence1": split.sentence1, "sentence2": split.sentence2, target: split.targets.tolist()})})
        task.dataset = {"pl": data} if task.metadata.is_multilingual else data
        task.data_loaded = True
    return tasks
