"""Diagnostic: the joint fit inside the sampling iterations.

The twenty-fourth session's question (issue 9, the N=5-better-than-N=1 target). The iterations see no
information the first pass lacks; the joint fit does (the detector's 2D). So: round one is the shipped
reconstruction (N=5, P=1). Its fitted pose is tokenised; the tokens the generator was surest of in round
one stay locked (fed as codes, as a person's locks are), the least sure share `--free` is masked and
sampled again (`--iterations`) given them; then the shipped refinement runs from the new tokens.
MPJPE paired against round one on the cached validation scenes (`main.py validate`'s).

    .venv/bin/python scripts/analysis/fit_in_the_loop.py --scenes 300 --free 0.25,0.5,1.0
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import roma
import torch

from genhmr_app.bench.run import paired_margin, person_metrics
from genhmr_app.bench.validate import validation_scenes
from genhmr_app.conditioning.camera import focal_from_fov
from genhmr_app.pipeline.reconstructor import (Reconstruction, ReconstructionSettings, Reconstructor,
                                               _outside_inference_mode)
from genhmr_app.sampling.maskgit import SamplingSettings, iterate


def second_round(recon: Reconstructor, detection, first: Reconstruction, free_share: float, iterations: int,
                 settings: ReconstructionSettings) -> Reconstruction:
    person = detection.people[0]
    w, h = detection.image_width, detection.image_height
    focal = settings.focal_px or focal_from_fov(h, settings.vertical_fov_deg)
    best = first.people[0].best
    fitted = roma.rotvec_to_rotmat(torch.as_tensor(best.body_pose, dtype=torch.float32).reshape(1, 23, 3))
    with torch.no_grad():
        start = recon.tokenizer.encode(fitted)[0]
    least_sure = torch.argsort(torch.as_tensor(best.token_confidence))[: int(round(free_share * len(start)))]
    start[least_sure] = recon.generator.mask_id
    cond = recon.encoder.encode(person, w, h, focal).to(recon.device)
    with torch.inference_mode():
        for step in iterate(recon.generator, cond, SamplingSettings(iterations=iterations), start_tokens=start):
            pass
    tokens, conf, out, committed = _outside_inference_mode(step.tokens, torch.as_tensor(step.record.confidence),
                                                           step.output, step.committed)
    latents = recon.tokenizer.soft_latents(committed)
    if out.latent_offset is not None:
        latents = latents + out.latent_offset
    timing = {"detect": 0.0, "sample": 0.0, "refine": 0.0}
    refitted = recon._refine_and_package(person, cond, out, latents, tokens, conf, [], settings, timing,
                                         time.perf_counter(), None, committed=committed)
    return Reconstruction(w, h, focal, [refitted], detection, timing, settings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--free", default="0.25,0.5,1.0", help="shares of the tokens sampled again, comma-separated")
    ap.add_argument("--iterations", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    settings = ReconstructionSettings()
    shares = [float(x) for x in args.free.split(",")]
    results: dict[str, dict[int, dict]] = {"shipped": {}} | {f"{s:.0%} sampled again": {} for s in shares}
    extra_ms: dict[str, list[float]] = {name: [] for name in results}
    for i, (scene, detection) in enumerate(validation_scenes(recon, 10, 600)[: args.scenes]):
        first = recon.reconstruct_detection(detection, settings)
        metrics = person_metrics(first, scene)
        if metrics is None:
            continue
        results["shipped"][i] = metrics
        for share in shares:
            t0 = time.perf_counter()
            again = second_round(recon, detection, first, share, args.iterations, settings)
            extra_ms[f"{share:.0%} sampled again"].append(1000 * (time.perf_counter() - t0))
            if (m := person_metrics(again, scene)) is not None:
                results[f"{share:.0%} sampled again"][i] = m
    base = {k: r["mpjpe"] for k, r in results["shipped"].items()}
    print("| variant | n | MPJPE | 2D px | MPJPE vs shipped (95%) | extra ms (median) |\n|---|---|---|---|---|---|")
    for name, rows in results.items():
        margin = paired_margin({k: r["mpjpe"] for k, r in rows.items()}, base)
        cell = "–" if name == "shipped" or margin is None else f"{margin[0]:+.2f} ({margin[1]:+.2f} to {margin[2]:+.2f})"
        ms = f"{np.median(extra_ms[name]):.0f}" if extra_ms[name] else "–"
        print(f"| {name} | {len(rows)} | {np.mean([r['mpjpe'] for r in rows.values()]):.2f} "
              f"| {np.mean([r['err2d_px'] for r in rows.values()]):.2f} | {cell} | {ms} |")


if __name__ == "__main__":
    main()
