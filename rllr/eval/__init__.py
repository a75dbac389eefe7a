"""Evaluation: generation, metrics, bootstrap confidence intervals, perplexity."""
