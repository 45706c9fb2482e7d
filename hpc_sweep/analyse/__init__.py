"""Numbers from tables: per-run summaries and multi-seed statistics, as pure functions over numpy arrays."""
