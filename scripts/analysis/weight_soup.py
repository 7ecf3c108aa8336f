"""Average two generator weight files of one architecture (a "model soup", Wortsman et al. 2022).

A fine-tune that starts from shipped weights stays in the same basin, so the straight line between the
two often holds a point better than either end: the fine-tune's gains on the new data with less of its
drift away from what the shipped weights learnt on data that is gone from the cache. Used to test that
for the generator and the regressor alike (same alpha for both, so both get the same treatment).

    python scripts/analysis/weight_soup.py A.pt B.pt --alpha 0.5 --out runs/soup.pt

alpha is B's share: 0 gives A, 1 gives B.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genhmr_app.generator.model import GeneratorCheckpointError, MaskedPoseTransformer, load_generator, save_generator


def soup(path_a: Path, path_b: Path, alpha: float) -> MaskedPoseTransformer:
    """A's model with every floating tensor replaced by (1 − alpha)·A + alpha·B.

    Both files are opened by the app's own loader, so a damaged file or one of another architecture gets
    its usual clear message."""
    a, b = load_generator(path_a), load_generator(path_b)
    if a.config != b.config:
        raise GeneratorCheckpointError(f"{path_a} and {path_b} have different configs: they cannot be averaged")
    state_b = b.state_dict()
    a.load_state_dict({name: torch.lerp(tensor, state_b[name], alpha) if tensor.is_floating_point() else tensor
                       for name, tensor in a.state_dict().items()})
    return a


def tokenizer_sha(path: Path) -> str | None:
    return torch.load(path, map_location="cpu", weights_only=True).get("tokenizer_sha")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--alpha", type=float, default=0.5, help="B's share")
    parser.add_argument("--out", type=Path, required=True, help="a new file (an existing one is never overwritten)")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: choose a new file (weights are not overwritten)")
    try:
        model = soup(args.a, args.b, args.alpha)
    except GeneratorCheckpointError as exc:
        raise SystemExit(str(exc)) from None
    sha_a, sha_b = tokenizer_sha(args.a), tokenizer_sha(args.b)
    if sha_a != sha_b:
        raise SystemExit(f"{args.a} and {args.b} were trained on different tokenizers")
    card = {"model": "weight average (scripts/analysis/weight_soup.py)", "a": str(args.a), "b": str(args.b),
            "alpha": args.alpha}
    save_generator(model, args.out, sha_a, card)
    print(f"{args.out}: {1 - args.alpha:.2f} × {args.a} + {args.alpha:.2f} × {args.b}")


if __name__ == "__main__":
    main()
