"""Which joints each pose token controls, measured on the decoder itself.

Replace token k's code by random other codes, decode, and measure how far each joint's rotation moves
(geodesic angle). Averaged over random token sets, this gives a (K, 23) influence matrix whose rows
sum to one. The app uses it to turn token confidence into per-joint uncertainty, and to highlight the
joints a token influences most.
"""

from __future__ import annotations

import roma
import torch

from genhmr_app.tokens.model import PoseTokenizer


@torch.no_grad()
def token_joint_influence(tokenizer: PoseTokenizer, samples: int = 64, seed: int = 0) -> torch.Tensor:
    k, c = tokenizer.config.num_tokens, tokenizer.config.codebook_size
    g = torch.Generator().manual_seed(seed)
    device = tokenizer.codebook.device
    base = torch.randint(0, c, (samples, k), generator=g).to(device)
    base_pose = tokenizer.decode(base)
    influence = torch.zeros(k, 23, device=device)
    for i in range(k):
        changed = base.clone()
        changed[:, i] = torch.randint(0, c, (samples,), generator=g).to(device)
        influence[i] = roma.rotmat_geodesic_distance(tokenizer.decode(changed), base_pose).mean(0)
    return influence / influence.sum(1, keepdim=True).clamp_min(1e-9)


def joint_uncertainty(influence: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """(K, 23) influence and (K,) token confidence → (24,) uncertainty in [0, 1] (pelvis = mean)."""
    weights = influence / influence.sum(0, keepdim=True).clamp_min(1e-9)  # per joint, over tokens
    body = (weights * (1 - confidence.to(weights))[:, None]).sum(0)
    return torch.cat([body.mean().reshape(1), body])
