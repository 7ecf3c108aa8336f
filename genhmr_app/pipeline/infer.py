"""`python main.py infer IMAGES_OR_DIRS... --out DIR`: one JSON per image (the contract in
genhmr_app/export/contract.py). A bad file is reported and skipped; the batch goes on."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from genhmr_app.export.contract import reconstruction_to_dict, write_json, write_vertices_npz
from genhmr_app.image.loading import IMAGE_SUFFIXES, ImageLoadError, load_image
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

log = logging.getLogger(__name__)


def collect_images(inputs: list[str]) -> tuple[list[Path], list[str]]:
    images, problems = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append(f"{p}: no images in this folder")
            images.extend(found)
        elif p.exists():
            images.append(p)
        else:
            problems.append(f"{p}: not found")
    return images, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="main.py infer", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="image files or folders")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--refine-steps", type=int, default=10)
    ap.add_argument("--samples", type=int, default=1, help="hypotheses per person")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fov", type=float, default=55.0, help="vertical field of view in degrees (unknown intrinsics)")
    ap.add_argument("--max-people", type=int, default=1)
    ap.add_argument("--save-vertices", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = ReconstructionSettings(args.iterations, args.temperature, args.refine_steps, args.samples, args.seed,
                                      vertical_fov_deg=args.fov, max_people=args.max_people)
    images, problems = collect_images(args.inputs)
    for msg in problems:
        print(f"skipped: {msg}", file=sys.stderr)
    recon = Reconstructor(device=args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    ok = 0
    try:
        for path in tqdm(images, desc="infer", unit="image"):
            try:
                image = load_image(path)
            except ImageLoadError as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                continue
            result = recon.run(image.rgb, settings, image_path=path)
            npz = []
            for i, person in enumerate(result.people):
                if args.save_vertices:
                    npz_path = args.out / f"{path.stem}_person{i}_vertices.npz"
                    write_vertices_npz(person.vertices, npz_path)
                    npz.append(npz_path.name)
                else:
                    npz.append(None)
            write_json(reconstruction_to_dict(result, path.name, npz), args.out / f"{path.stem}.json")
            if not result.people:
                print(f"note: {path.name}: no person found", file=sys.stderr)
            ok += 1
    finally:
        recon.close()
    print(f"wrote {ok} result(s) to {args.out} ({len(images) - ok} skipped)")
    return 0 if ok or not images else 1
