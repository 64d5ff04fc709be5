"""thorbot benchmarks: `python -m benchmarks.run` (README → Performance)."""
