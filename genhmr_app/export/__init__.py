"""Exports: the JSON contract, SMPL parameters, meshes. Every write is safe (see safe_write)."""
