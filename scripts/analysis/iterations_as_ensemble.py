"""Diagnostic: do the later sampling iterations add anything the first, all-masked pass lacks?

Issue 9 asks for N=5 to beat N=1. Each token is decoded from the distribution it was committed under
(sampling/maskgit.py); at N=1 that is the first pass's prediction, at N=5 a later token's is conditioned on
the earlier ones' beliefs. If the later predictions knew more, an ensemble of both would beat either: this
mixes each committed distribution with the first pass's (share `--shares` of the first pass, 1 = N=1's
distributions under N=5's commit order) and scores every variant on the cached validation scenes, paired.

Thirty-second session (seed 10, 597 flat scenes), against N=5: with one tracking pass, shares 0.25 / 0.5 /
0.75 gave −0.02 / −0.09 / −0.03 mm, PA −0.02 / −0.13 / −0.17, and N=1 −0.03, PA −0.24; with two passes
(cache v4) +0.02 / −0.05 / −0.08, PA −0.03 / −0.16 / −0.21, and N=1 −0.06, PA −0.28 (−0.49 to −0.06):
between the two, never beyond N=1.

    .venv/bin/python scripts/analysis/iterations_as_ensemble.py [--look dressed] [--shares 0.25 0.5 0.75]
"""

from __future__ import annotations

import argparse

import torch

from genhmr_app.bench.validate import evaluate, parse_variant, report, validation_scenes
from genhmr_app.pipeline import reconstructor as reconstructor_module
from genhmr_app.pipeline.reconstructor import Reconstructor
from genhmr_app.sampling import maskgit


def mixing_iterate(share: dict[str, float]):
    """maskgit.iterate, with every step's committed distributions mixed with the first pass's prediction."""

    def iterate(model, condition, settings, start_tokens=None, feedback_fn=None):
        first = None
        for step in maskgit.iterate(model, condition, settings, start_tokens, feedback_fn):
            if first is None:  # the all-masked forward, as the first iteration ran it (no beliefs yet)
                s, k = settings.hypotheses, model.config.num_tokens
                cond = condition.repeat(s) if condition.tokens.shape[0] == 1 else condition
                with torch.no_grad():
                    first = torch.softmax(model(cond.tokens, torch.full((s, k), model.mask_id)).logits.float(), -1)
            a = share["first"]
            committed = step.committed
            if a > 0:
                held = committed.sum(-1, keepdim=True) > 0  # still-masked tokens stay all zero
                committed = torch.where(held, a * first + (1 - a) * committed, committed)
            yield maskgit.SamplingStep(step.record, step.tokens, step.output, committed)
    return iterate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--look", choices=("flat", "dressed"), default="flat")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5, 0.75])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    recon = Reconstructor(device="cpu")
    share = {"first": 0.0}
    reconstructor_module.iterate = mixing_iterate(share)  # what Reconstructor._sample calls
    pairs = validation_scenes(recon, args.seed, args.images, args.look)
    results = {}
    for name, first_share, spec in ([("N=5", 0.0, "n5="), ("N=1", 0.0, "n1=iterations=1")]
                                    + [(f"N=5, first pass {a:g}", a, "mix=") for a in args.shares]):
        share["first"] = first_share
        results[name] = evaluate(recon, pairs, parse_variant(spec))
    print("\n".join(report(results)))


if __name__ == "__main__":
    main()
