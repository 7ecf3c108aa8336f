"""Pose tokenizer: a VQ-VAE that turns 23 SMPL body-joint rotations into K discrete codebook tokens."""
