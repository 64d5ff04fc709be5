"""thorbot benchmarks: `python -m benchmarks.run` (docs/performance.md)."""
