"""Demo scenarios: one module each, with `ORDER` and `run(org, timeline) -> dict` (name, passed, results)."""
