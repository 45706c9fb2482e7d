"""Search beyond the grid: sampled configurations, multi-seed successive halving that promotes by resuming
checkpoints."""
