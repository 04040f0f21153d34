"""Benchmarks of munorders (run them as modules, e.g. ``python -m benchmarks.throughput``)."""
