"""Training: the loop, checkpoints, run directories and data-parallel set-up."""
