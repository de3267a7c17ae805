"""The use cases: the only code that loads, changes and saves aggregates."""
