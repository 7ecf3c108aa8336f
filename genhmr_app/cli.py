"""One command line for the app and its tools. Subcommands import their heavy modules lazily so
`--help` and the window start fast."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable


def _gui(args: argparse.Namespace) -> int:
    from genhmr_app.ui.app import run_app

    return run_app(args.inputs)


def _forward(module: str) -> Callable[[argparse.Namespace], int]:
    """Subcommands with their own argparse `main(argv)`; the rest of the command line goes to them."""

    def run(args: argparse.Namespace) -> int:
        import importlib

        return importlib.import_module(module).main(args.rest)

    return run


TOOLS: dict[str, tuple[str, str]] = {
    "build-body-model": ("genhmr_app.body.build_anny", "build the embedded Anny-derived SMPL-format body model"),
    "build-detector": ("genhmr_app.detection.bundle", "bundle MediaPipe's pose models into weights/detector"),
    "build-pose-cache": ("genhmr_app.mocap.dataset", "retarget the motion capture to SMPL poses (cached)"),
    "train-tokenizer": ("genhmr_app.tokens.train", "train the VQ-VAE pose tokenizer"),
    "eval-tokenizer": ("genhmr_app.tokens.evaluate", "measure tokenizer configurations"),
    "calibrate-noise": ("genhmr_app.training.calibrate_noise", "fit the detector-noise model on rendered bodies"),
    "calibrate-placement": ("genhmr_app.training.calibrate_placement", "measure where the detector puts each landmark on the body (detector data)"),
    "calibrate-landmark-noise": ("genhmr_app.training.calibrate_landmark_noise", "measure how the detector's landmark errors go together (detector data)"),
    "train-landmark-corrector": ("genhmr_app.training.train_landmark_corrector", "train the correction of MediaPipe's 2D landmarks the joint fit uses (detector data)"),
    "generate-detector-data": ("genhmr_app.training.detector_data", "render bodies, run the real detector, pair with the truth (training data)"),
    "train-generator": ("genhmr_app.training.train_generator", "train the masked pose transformer (or the baseline)"),
    "infer": ("genhmr_app.pipeline.infer", "reconstruct people in images, one JSON per image"),
    "animate": ("genhmr_app.motion.animate", "turn a video into tracked, smoothed motion: BVH, GLB and SMPL npz per person"),
    "annotate": ("genhmr_app.ui.annotator", "review and correct poses of a folder or video (an autosaved project)"),
    "export-project": ("genhmr_app.annotation.dataset", "an annotation project → a dataset npz with a JSON description"),
    "bench": ("genhmr_app.bench.run", "benchmark accuracy and latency on rendered and real data"),
    "validate": ("genhmr_app.bench.validate", "compare inference settings on rendered validation scenes (where settings are chosen)"),
    "bench-cluster": ("genhmr_app.bench.cluster_bench", "benchmark batch inference: one process vs a local Ray cluster"),
    "bench-annotate": ("genhmr_app.bench.annotate_bench", "benchmark the annotator: drag → mesh update latency"),
    "bench-app": ("genhmr_app.bench.app_bench", "benchmark the app: live video FPS, slider latency, memory"),
    "bench-live-accuracy": ("genhmr_app.bench.live_accuracy", "live tracking vs the still path on a rendered sequence"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genhmr-studio", description="GenHMR Studio: 3D human mesh recovery.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")
    gui = sub.add_parser("gui", help="open the window (default)")
    gui.add_argument("inputs", nargs="*", help="image, folder or video to open")
    gui.set_defaults(func=_gui)
    for name, (module, help_text) in TOOLS.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_forward(module))
    return parser


def main(argv: list[str] | None = None) -> int:
    as_program = argv is None  # main.py or the genhmr-studio command, not a caller inside Python
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = bool(argv) and argv[0] in ("-v", "--verbose") or os.environ.get("GENHMR_VERBOSE") == "1"
    if as_program and not verbose:
        # MediaPipe's native log lines (dozens per image) drown the app's own messages: dropped
        # unless -v / --verbose or GENHMR_VERBOSE=1 (see detection/native_log.py).
        from genhmr_app.detection.native_log import quiet_native_logs

        quiet_native_logs()
    parser = build_parser()
    # `main.py photo.jpg` means "open the window with this file": anything not a subcommand is a gui input.
    if not argv or (argv[0] not in {"gui", *TOOLS} and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    if argv[0] in TOOLS:
        # Tools own their flags; hand them the rest untouched (argparse.REMAINDER would eat `--flag`s).
        import importlib

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return int(importlib.import_module(TOOLS[argv[0]][0]).main(argv[1:]) or 0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        args = parser.parse_args(["gui"])
    return int(args.func(args) or 0)
