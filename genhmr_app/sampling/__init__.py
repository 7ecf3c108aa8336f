"""Uncertainty-guided iterative decoding of pose tokens (MaskGIT)."""
