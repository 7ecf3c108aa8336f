"""Benchmarks that print their figures (accuracy, latency, app throughput)."""
