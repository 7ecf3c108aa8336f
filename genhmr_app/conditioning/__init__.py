"""Conditioning: what the generator sees of the image (detected keypoints, crop, camera)."""
