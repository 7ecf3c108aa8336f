"""2D-pose-guided refinement of the sampled pose."""
