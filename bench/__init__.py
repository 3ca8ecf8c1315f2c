"""Benchmarks: the Keras reference side by side with this project, and every stage measured."""
