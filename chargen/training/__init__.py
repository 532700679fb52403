"""Training: corpora, batches, the training loop, evaluation, distributed runs."""
