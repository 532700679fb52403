"""Inference: the step engine, decoding, generation, batching, loops and the Look inside computations."""
