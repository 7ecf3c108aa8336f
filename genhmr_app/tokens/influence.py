"""Which joints each pose token controls, measured on the decoder itself.

A VQ token is not tied to one joint: the decoder mixes all tokens into all 23 joint rotations. We
measure how much each token moves each joint by swapping it for other codebook entries around the
actual token set and decoding (the mean geodesic angle change). A joint's uncertainty is then the mix
of (1 - confidence) over tokens, weighted by that influence; the pelvis, whose rotation is regressed
rather than tokenised, gets the plain mean. The app colours the body with it and highlights the joints
a token influences most.
"""

from __future__ import annotations

import numpy as np
import torch

ALTERNATIVE_CODES = 8  # codebook entries tried per token when measuring influence


def token_joint_influence(tokenizer, tokens: np.ndarray, alternatives: int = ALTERNATIVE_CODES,
                          seed: int = 0) -> np.ndarray:
    """Token ids (K,) or (S, K) → (K, 23) or (S, K, 23): the mean rotation change (radians) of each
    joint when token k is swapped for another codebook entry. One batched decode for everything."""
    ids = torch.as_tensor(np.asarray(tokens), dtype=torch.long)
    single = ids.ndim == 1
    ids = ids.reshape(-1, ids.shape[-1])
    s, k = ids.shape
    gen = torch.Generator().manual_seed(seed)
    alt = torch.randint(0, tokenizer.config.codebook_size, (k, alternatives), generator=gen)
    batch = ids[:, None, None, :].repeat(1, k, alternatives, 1)  # (S, K, A, K)
    rows = torch.arange(k)
    # Indexed result is (K, S, A): copy (k, a) of every hypothesis gets code alt[k, a] at token k.
    batch[:, rows, :, rows] = alt[:, None, :]
    device = next(tokenizer.parameters()).device
    with torch.no_grad():
        base = tokenizer.decode(ids.to(device))  # (S, 23, 3, 3)
        varied = tokenizer.decode(batch.reshape(-1, k).to(device)).reshape(s, k, alternatives, -1, 3, 3)
        rel = base[:, None, None].transpose(-1, -2) @ varied
        trace = rel.diagonal(dim1=-2, dim2=-1).sum(-1)
        angle = torch.arccos(((trace - 1) / 2).clamp(-1.0, 1.0)).mean(2)  # (S, K, 23)
    out = angle.cpu().numpy().astype(np.float32)
    return out[0] if single else out


def joint_uncertainty(influence: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """(K, 23) influence, (K,) confidence → (24,) uncertainty in [0, 1], SMPL joint order."""
    doubt = 1.0 - np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    w = np.asarray(influence, dtype=np.float64)
    total = w.sum(0)
    per_joint = np.where(total > 1e-9, (w * doubt[:, None]).sum(0) / np.maximum(total, 1e-9), doubt.mean())
    return np.concatenate([[doubt.mean()], per_joint]).astype(np.float32)


