"""6D rotation representation (first two columns of the matrix, Zhou et al. 2019).

The Gram-Schmidt step comes from roma, so the convention matches the rest of the code.
"""

from __future__ import annotations

import roma
import torch


def rotmat_to_6d(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) → (..., 6): the first two columns, column-major."""
    return rotmat[..., :, :2].transpose(-1, -2).reshape(*rotmat.shape[:-2], 6)


def sixd_to_rotmat(sixd: torch.Tensor) -> torch.Tensor:
    """(..., 6) → (..., 3, 3), orthonormalised."""
    cols = sixd.reshape(*sixd.shape[:-1], 2, 3).transpose(-1, -2)
    return roma.special_gramschmidt(cols)
