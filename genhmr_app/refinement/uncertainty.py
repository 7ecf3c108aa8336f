"""How sure the generator is of each joint, turned into the joint fit's prior (uncertainty-guided refinement).

The sampler leaves, for every pose token, the distribution it was committed under (sampling/maskgit.py).
Decoding draws from those distributions shows how far each joint's rotation can move while staying a
pose the generator believes in. A joint it is sure of (spread near 0) is held near the decoded rotation;
a joint it is unsure of (an arm it cannot see, a depth it cannot tell) is left to the 2D keypoints.
The weight is a Gaussian's precision, scale / (spread + floor): the floor stands for what the decoder
itself gets wrong, so even a certain joint can still move a little.

Measured on rendered validation scenes (not the benchmark's), with the joint fit's constant prior 0.05 as
the reference: N=1 MPJPE 108.8 → 106.7 mm, PA-MPJPE 89.4 → 88.2 mm, 2D 17.5 → 16.6 px; a lower constant
(0.02-0.03) gave only 108.0-108.2 mm (ninth session's generator; 32 draws). A deterministic regressor
has no such distribution to draw from.
"""

from __future__ import annotations

from dataclasses import dataclass

import roma
import torch

from genhmr_app.tokens.frozen import FrozenDecoder
from genhmr_app.tokens.model import PoseTokenizer


@dataclass(frozen=True)
class UncertaintyPriorSettings:
    # Token draws decoded per hypothesis, in one batched decode: 16 cost ~1.9 ms here, 32 ~2.8 ms, and
    # measured the same on the validation scenes (MPJPE 103.0-103.3 mm either way).
    samples: int = 16
    scale: float = 0.005  # the weight is scale / (spread + floor), in the joint fit's units
    floor_rad2: float = 0.05  # ~13° of rotation the decoder may be off even where the tokens are certain
    min_weight: float = 0.005
    max_weight: float = 1.0
    # The scale's share kept for a person wholly unlike the renders the generator learnt from (familiarity 0,
    # the landmark corrector's domain check); in between, the share rises linearly to 1. Measured with
    # ReconstructionSettings.unfamiliar_fit_iterations (see there); 0.3 instead of 0.5: the same crops
    # (6.53%), validation +0.19 flat / +0.19 dressed.
    unfamiliar_share: float = 0.5


def joint_spread(tokenizer: PoseTokenizer | FrozenDecoder, committed: torch.Tensor, start_pose: torch.Tensor,
                 samples: int, generator: torch.Generator, latent_offset: torch.Tensor | None = None) -> torch.Tensor:
    """committed (S, K, C) per-token distributions, start_pose (S, 23, 3, 3) the pose the joint fit starts
    from and holds to → (S, 23) mean squared rotation angle (rad²) of each joint of `samples` decoded
    draws away from it. `latent_offset` (S, slots, D): the generator's continuous offset, added to every
    draw's latents as it was to the start pose's."""
    s, k, c = committed.shape
    with torch.no_grad():
        probs = committed.clamp_min(0).reshape(s * k, c) + 1e-12
        draws = torch.multinomial(probs, samples, replacement=True, generator=generator)  # (S*K, M)
        draws = draws.reshape(s, k, samples).permute(0, 2, 1).reshape(s * samples, k)
        latents = tokenizer.latents(draws)
        if latent_offset is not None:
            latents = latents + latent_offset.detach().repeat_interleave(samples, 0)
        poses = tokenizer.decode_latents(latents).reshape(s, samples, 23, 3, 3)
        offsets = roma.rotmat_to_rotvec(start_pose.detach()[:, None].transpose(-1, -2) @ poses)  # (S, M, 23, 3)
        return offsets.pow(2).sum(-1).mean(1)


def joint_prior_weights(tokenizer: PoseTokenizer | FrozenDecoder, committed: torch.Tensor,
                        start_pose: torch.Tensor, settings: UncertaintyPriorSettings = UncertaintyPriorSettings(),
                        seed: int = 0, latent_offset: torch.Tensor | None = None,
                        familiarity: float = 1.0) -> torch.Tensor:
    """(S, 23) per-joint prior weights for refinement/joint_fit.fit_joints(pose_prior=...). `familiarity` in
    [0, 1]: how like the generator's training renders the person is (Reconstructor.fit_targets); below 1 the
    generator's certainty was learnt on other people, so it holds the joints less firmly."""
    generator = torch.Generator(device=committed.device).manual_seed(seed)
    spread = joint_spread(tokenizer, committed, start_pose, settings.samples, generator, latent_offset)
    return prior_from_spread(spread, settings, familiarity)


def prior_from_spread(spread: torch.Tensor, settings: UncertaintyPriorSettings = UncertaintyPriorSettings(),
                      familiarity: float = 1.0) -> torch.Tensor:
    """(S, 23) joint_spread's spread → the prior weights (joint_prior_weights, once the spread is known)."""
    share = settings.unfamiliar_share + (1 - settings.unfamiliar_share) * min(max(familiarity, 0.0), 1.0)
    return (share * settings.scale / (spread + settings.floor_rad2)).clamp(settings.min_weight, settings.max_weight)
