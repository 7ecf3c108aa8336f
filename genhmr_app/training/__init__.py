"""Training: synthesised samples and the trainers for the generator and its baseline."""
