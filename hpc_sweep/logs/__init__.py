"""Where a run's artefacts are and what its console says: log layouts and the RSL-RL console scanner (stdlib only)."""
