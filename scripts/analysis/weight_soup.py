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


def soup(path_a: Path, path_b: Path, alpha: float) -> dict:
    """Return A's checkpoint with every floating tensor replaced by (1 − alpha)·A + alpha·B."""
    a = torch.load(path_a, map_location="cpu", weights_only=False)
    b = torch.load(path_b, map_location="cpu", weights_only=False)
    if a.get("config") != b.get("config"):
        raise SystemExit(f"{path_a} and {path_b} have different configs: they cannot be averaged")
    if a.get("tokenizer_sha") != b.get("tokenizer_sha"):
        raise SystemExit(f"{path_a} and {path_b} were trained on different tokenizers")
    mixed = {}
    for name, tensor_a in a["state_dict"].items():
        tensor_b = b["state_dict"][name]
        mixed[name] = (1 - alpha) * tensor_a + alpha * tensor_b if tensor_a.is_floating_point() else tensor_a
    return {**a, "state_dict": mixed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--alpha", type=float, default=0.5, help="B's share")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(soup(args.a, args.b, args.alpha), args.out)
    print(f"{args.out}: {1 - args.alpha:.2f} × {args.a} + {args.alpha:.2f} × {args.b}")


if __name__ == "__main__":
    main()
