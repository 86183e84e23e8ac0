"""Sentences to vectors: the encode loop over distinct sentences (length-sorted batches, progress), the
strategies (pooling functions and their spec), the embedding cache, compression, devices and precision,
the ONNX Runtime / OpenVINO backends and data-parallel encoding. Uses models and task data; knows nothing
of scores, results or reports."""
