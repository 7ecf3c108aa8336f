"""What the detector-data calibrations (calibrate-placement, calibrate-landmark-noise) share: their
common options, their start (logging, threads, the command line for the card) and the detector data
they read, without the renders the image border cut (the border cuts what the detector could see)."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genhmr_app.training.detector_data import DetectorDataError, load_detector_datasets


def calibration_parser(prog: str, doc: str, out: Path) -> argparse.ArgumentParser:
    """The options every calibration takes; a caller adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="*", default=None,
                        help="detector-data folders (default: every folder under the cache's detector_data)")
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--holdout-every", type=int, default=5, help="every n-th block of samples is held out")
    parser.add_argument("--min-visibility", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    return parser


@dataclass
class CalibrationRun:
    args: argparse.Namespace
    command: str  # the command line, for the file's source
    started: float  # time.perf_counter() at the start
    folders: list[Path]  # the detector-data folders read
    data: dict[str, np.ndarray]  # their samples the border did not cut


def start_calibration(parser: argparse.ArgumentParser, argv: list[str] | None) -> CalibrationRun:
    """Parse `argv`, set up logging and threads, and read the detector data (a parser error when there
    is none or it is damaged)."""
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    command = f"python main.py {parser.prog} " + shlex.join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    try:
        folders, data = load_detector_datasets(args.data)
    except DetectorDataError as exc:
        parser.error(str(exc))
    data = {k: v[~data["truncated"]] for k, v in data.items()}
    return CalibrationRun(args, command, started, folders, data)


def to_tensors(data: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The truth and the detections the calibrations compare, as tensors."""
    keys = ("body_pose", "global_orient", "betas", "transl", "focal", "image_wh", "det_px", "visibility")
    return {k: torch.as_tensor(data[k]) for k in keys}
