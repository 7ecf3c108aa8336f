"""`python main.py validate`: compare inference settings on rendered VALIDATION scenes, paired.

Where settings are chosen. The benchmark (`main.py bench`) renders test-split and held-out poses; its
figures are the ones reported and must never be what a setting is picked by. This tool renders
validation-split poses the same way (random shape, view, outfit, background; the real detector), keeps
the scenes' truth and detections in the user cache (a seed's 600 scenes take ~4 minutes to make once;
the pictures themselves are not kept), and scores every variant on the same detections, with each
variant's per-scene difference to the first one and its 95% interval: seed 10 with 600 scenes resolves
differences of about 0.2-0.3 mm of MPJPE.

A variant is `NAME=KEY=VALUE,KEY=VALUE` (or `NAME=` for the defaults): keys are ReconstructionSettings
fields, `fit.FIELD` for refinement/joint_fit.JointFitSettings, `prior.FIELD` for
refinement/uncertainty.UncertaintyPriorSettings, `correction.FIELD` for
detection/landmark_correction.CorrectionSettings, `weights=PATH` for candidate generator (or
regressor) weights in place of the shipped generator and `corrector=PATH` for a candidate landmark
corrector in place of the shipped one (it acts only where `landmark_correction=true`). For example

    python main.py validate --variant shipped= --variant orient=fit.orient_prior=0.1 \
        --variant n1=iterations=1 --variant regressor=weights=weights/genhmr/regressor.pt,refine_steps=0 \
        --seed 10 --images 600

The rendered scenes are not real people: a setting that helps here should still be checked on the
real images before it is shipped. `--real` scores every variant on them as well (the MPI-INF-3DHP
frames' PA-MPJPE and the annotated photos' 2D error, as `main.py bench` measures them; few images, so
read them as a guard against a setting that only suits renders, not as a measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import pickle
from contextlib import contextmanager
from copy import copy as shallow_copy
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from genhmr_app.detection.detector import DetectionResult
from genhmr_app.detection.landmark_correction import (CORRECTOR_PATH, CorrectionSettings, CorrectorError,
                                                      LandmarkCorrector, card_reads_patches)
from genhmr_app.generator.model import GeneratorCheckpointError, load_generator
from genhmr_app.paths import user_cache_dir
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.refinement.joint_fit import JointFitSettings
from genhmr_app.refinement.uncertainty import UncertaintyPriorSettings
from genhmr_app.training.appearance import LOOKS

log = logging.getLogger(__name__)
# Bump when the scenes' rendering or what is cached changes. 2: the detections carry the default number of
# tracking passes' look (DetectedPerson.tracked_px), as Reconstructor.run takes it; 3: and its confidence;
# 4: two passes by default, with the first pass's look (DetectedPerson.first_pass_px).
CACHE_FORMAT = 4
METRICS = ("mpjpe", "pa_mpjpe", "err2d_px")


@dataclass
class Variant:
    name: str
    settings: ReconstructionSettings
    joint_fit: JointFitSettings
    uncertainty: UncertaintyPriorSettings
    correction: CorrectionSettings = CorrectionSettings()
    weights: Path | None = None  # candidate generator/regressor weights; None: the shipped generator
    corrector: Path | None = None  # candidate landmark-corrector weights; None: the shipped corrector


def _typed(cls, key: str, text: str):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise ValueError(f"{cls.__name__} has no field {key!r} (fields: {', '.join(fields)})")
    default = getattr(cls(), key)
    if isinstance(default, bool):
        if text.lower() not in ("1", "0", "true", "false"):
            raise ValueError(f"{key} takes true or false, not {text!r}")
        return text.lower() in ("1", "true")
    if text.lower() == "none" and "None" in str(fields[key].type):  # an optional setting switched off
        return None
    kind = type(default)
    if default is None or "None" in str(fields[key].type):  # an optional number: focal_px, the fit's iterations
        kind = int if str(fields[key].type).startswith("int") else float
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{key} must be {kind.__name__}, not {text!r}") from None


def parse_variant(spec: str) -> Variant:
    """'NAME=KEY=VALUE,...' → a Variant (the defaults where a key is not given)."""
    name, sep, rest = spec.partition("=")
    if not sep or not name:
        raise ValueError(f"a variant is NAME=KEY=VALUE,... (or NAME= for the defaults), not {spec!r}")
    picked: dict[type, dict] = {ReconstructionSettings: {}, JointFitSettings: {}, UncertaintyPriorSettings: {},
                                CorrectionSettings: {}}
    files: dict[str, Path | None] = {"weights": None, "corrector": None}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r} in variant {name!r} is not KEY=VALUE")
        if key in files:
            files[key] = Path(value).expanduser()
            if not files[key].is_file():
                raise ValueError(f"{key} file {value!r} in variant {name!r} does not exist")
            continue
        prefix, dot, field_name = key.partition(".")
        cls = ({"fit": JointFitSettings, "prior": UncertaintyPriorSettings, "correction": CorrectionSettings}.get(prefix)
               if dot else ReconstructionSettings)
        if cls is None:
            raise ValueError(f"{key!r} in variant {name!r}: a prefixed key is fit.FIELD, prior.FIELD or correction.FIELD")
        field_name = field_name if dot else key
        if cls is JointFitSettings and field_name == "iterations":  # one source: the Reconstructor takes it from there
            raise ValueError("the joint fit's iterations are ReconstructionSettings.joint_fit_iterations: "
                             "use joint_fit_iterations=N")
        picked[cls][field_name] = _typed(cls, field_name, value)
    return Variant(name, ReconstructionSettings(**picked[ReconstructionSettings]),
                   JointFitSettings(**picked[JointFitSettings]), UncertaintyPriorSettings(**picked[UncertaintyPriorSettings]),
                   CorrectionSettings(**picked[CorrectionSettings]), files["weights"], files["corrector"])


class Reconstructors:
    """One Reconstructor per weights file, sharing the shipped one's body model and tokenizer; a candidate
    corrector gets a copy of that Reconstructor that differs in its corrector alone."""

    def __init__(self, shipped: Reconstructor) -> None:
        self.shipped = shipped
        self._by_path: dict[Path, Reconstructor] = {}
        self._by_corrector: dict[tuple[Path | None, Path], Reconstructor] = {}

    def for_variant(self, variant: Variant) -> Reconstructor:
        recon = self._for_weights(variant.weights)
        if variant.corrector is None:
            return recon
        key = (variant.weights.resolve() if variant.weights else None, variant.corrector.resolve())
        if key not in self._by_corrector:
            copy = shallow_copy(recon)
            copy.use_corrector(LandmarkCorrector.load(variant.corrector))  # CorrectorError: a clear message
            self._by_corrector[key] = copy
        return self._by_corrector[key]

    def _for_weights(self, weights: Path | None) -> Reconstructor:
        if weights is None:
            return self.shipped
        key = weights.resolve()
        if key not in self._by_path:
            base = self.shipped  # load_generator checks the weights against the tokenizer they must match
            self._by_path[key] = Reconstructor(body=base.body, tokenizer=base.tokenizer, device=str(base.device),
                                               generator=load_generator(key, base.tokenizer.config))
        return self._by_path[key]


def cache_path(seed: int, images: int, look: str = "flat") -> Path:
    suffix = "" if look == "flat" else f"-{look}"  # the flat look's caches keep their names
    return user_cache_dir() / "validation" / f"val-v{CACHE_FORMAT}-seed{seed}-{images}{suffix}.pkl"


def validation_scenes(recon: Reconstructor, seed: int, images: int, look: str = "flat") -> list[tuple]:
    """[(scene, detection)] for the validation poses the detector found (scene.image dropped): from the
    cache, else rendered, detected and cached."""
    path = cache_path(seed, images, look)
    if path.exists():
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
            log.warning("validation cache %s unreadable (%s); rendering again", path, exc)
    from genhmr_app.bench.run import build_scenes, detection_matches
    from genhmr_app.tokens.data import load_pose_splits

    val = load_pose_splits()["val"]
    scenes = build_scenes(recon.body, {"test": val, "heldout": val}, images, seed, look)
    detector = recon.detector("image")
    pairs = []
    passes = ReconstructionSettings().tracking_passes
    for scene in tqdm(scenes, desc="detect"):
        detection = detector.detect(scene.image)
        if detection_matches(detection, scene):
            looked = recon.look_again(scene.image, detection, passes)
            # The cache keeps no images (rendered_validation_scenes makes them again for what needs them).
            pairs.append((replace(scene, image=None), looked.without_images()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(pairs, f)
    tmp.replace(path)  # never a half-written cache
    return pairs


def rendered_validation_scenes(recon: Reconstructor, seed: int, images: int, look: str = "flat",
                               cache_images: int = 600):
    """Yield (scene number in validation_scenes, rendered scene with its image, cached scene, detection)
    for the first `images` of the `cache_images` validation scenes (whose cache is read) the detector
    found: the cache drops the images, so analyses that need them render the same people again
    (build_scenes is seeded) and match them by camera and keypoints."""
    from genhmr_app.bench.run import build_scenes
    from genhmr_app.tokens.data import load_pose_splits

    key = lambda scene: (round(float(scene.focal), 4), round(float(scene.kp2d[0, 0]), 3))  # noqa: E731
    pairs = validation_scenes(recon, seed, cache_images, look)
    by_key = {key(scene): i for i, (scene, _) in enumerate(pairs)}
    val = load_pose_splits()["val"]
    for rendered in build_scenes(recon.body, {"test": val, "heldout": val}, images, seed, look):
        i = by_key.get(key(rendered))
        if i is not None:  # else the detector missed this person when the cache was made
            yield i, rendered, *pairs[i]


def with_images(recon: Reconstructor, pairs: list[tuple], seed: int, images: int, look: str,
                cache_images: int | None = None) -> list[tuple]:
    """`pairs` (validation_scenes(recon, seed, cache_images or images, look), or the first of them) with
    every person's image (DetectedPerson.image), rendered again; a scene that does not render the same
    again is left out (and counted)."""
    rendered = {i: scene.image for i, scene, _, _ in
                rendered_validation_scenes(recon, seed, images, look, cache_images or images)}
    if len(rendered) < len(pairs):
        print(f"with images: {len(pairs) - len(rendered)} scene(s) did not render the same again, left out")
    return [(scene, replace(det, people=[replace(p, image=rendered[i]) for p in det.people]))
            for i, (scene, det) in enumerate(pairs) if i in rendered]


@contextmanager
def applied(recon: Reconstructor, variant: Variant):
    """The variant's refinement settings on the Reconstructor, restored after."""
    kept = recon.joint_fit, recon.uncertainty, recon.correction
    recon.joint_fit, recon.uncertainty, recon.correction = variant.joint_fit, variant.uncertainty, variant.correction
    try:
        yield
    finally:
        recon.joint_fit, recon.uncertainty, recon.correction = kept


def with_tracking_passes(detection: DetectionResult, passes: int) -> DetectionResult:
    """A cached detection as `passes` tracking passes would leave it: the cache holds the default
    number's look (without the image, other numbers cannot be made; scripts/analysis/tracking_pass.py
    renders the scenes again for them)."""
    if passes == 0:
        return replace(detection, people=[replace(p, tracked_px=None, tracked_confidence=None, first_pass_px=None,
                                                  first_pass_confidence=None) for p in detection.people])
    if passes != ReconstructionSettings().tracking_passes:
        raise SystemExit(f"the validation cache holds the look of {ReconstructionSettings().tracking_passes} tracking "
                         f"pass(es), not {passes}: use --real for the real images, or scripts/analysis/tracking_pass.py")
    return detection


def evaluate(recon: Reconstructor, pairs: list[tuple], variant: Variant) -> dict[int, dict]:
    """{scene number: metrics} for one variant."""
    from genhmr_app.bench.run import person_metrics

    out = {}
    with applied(recon, variant):
        for i, (scene, detection) in enumerate(tqdm(pairs, desc=variant.name, leave=False)):
            detection = with_tracking_passes(detection, variant.settings.tracking_passes)
            metrics = person_metrics(recon.reconstruct_detection(detection, variant.settings), scene)
            if metrics is not None:
                out[i] = metrics
    return out


def evaluate_real(recon: Reconstructor, variant: Variant) -> dict:
    """The real images' figures for one variant: MPI-INF-3DHP PA-MPJPE (mm, ours and MediaPipe's world
    landmarks) and the annotated photos' 2D error of the placed keypoints (% of the height, ours and
    MediaPipe's own); NaN where the shared data is missing."""
    from genhmr_app.bench.real_2d import run_person_crops, run_real_2d
    from genhmr_app.bench.run import run_mpi_inf_3dhp
    from genhmr_app.paths import shared_data_dir

    kp2d = shared_data_dir() / "images" / "kp2d"
    with applied(recon, variant):
        mpi = [r for r in run_mpi_inf_3dhp(recon, variant.settings) if r["found"]]
        photos = run_real_2d(recon, variant.settings, kp2d) if kp2d.is_dir() else {}
        crops = run_person_crops(recon, variant.settings, kp2d) if kp2d.is_dir() else {}
    mean = lambda rows, key: float(np.mean([r[key] for r in rows])) if rows else float("nan")  # noqa: E731
    return {"mpi_pa_mpjpe": mean(mpi, "pa_mpjpe_mm"), "mpi_mediapipe": mean(mpi, "mediapipe_pa_mpjpe_mm"),
            "mpi_found": len(mpi), "photos_placed_pct": 100 * photos.get("placed_share", float("nan")),
            "photos_mediapipe_pct": 100 * photos.get("mediapipe_share", float("nan")),
            "photos_matched": photos.get("matched", 0),
            "crops_placed_pct": 100 * crops.get("placed_share", float("nan")),
            "crops_mediapipe_pct": 100 * crops.get("mediapipe_share", float("nan")),
            "crops_matched": crops.get("matched", 0), "crop_rows": crops.get("rows", [])}


def real_report(real: dict[str, dict]) -> list[str]:
    lines = ["", "Real images (few: a guard, not a measurement):", "",
             "| variant | MPI-INF-3DHP PA-MPJPE (MediaPipe) | frames | photos 2D placed, % height (MediaPipe) | people "
             "| each person cropped, placed % (MediaPipe) | people | vs first: mean (standard error), better / worse |",
             "|---|---|---|---|---|---|---|---|"]
    first = next(iter(real.values()), {})
    for name, r in real.items():
        lines.append(f"| {name} | {r['mpi_pa_mpjpe']:.1f} ({r['mpi_mediapipe']:.1f}) | {r['mpi_found']} "
                     f"| {r['photos_placed_pct']:.2f} ({r['photos_mediapipe_pct']:.2f}) | {r['photos_matched']} "
                     f"| {r['crops_placed_pct']:.2f} ({r['crops_mediapipe_pct']:.2f}) | {r['crops_matched']} "
                     f"| {crop_difference(r.get('crop_rows', []), first.get('crop_rows', []))} |")
    return lines


def crop_difference(rows: list[dict], reference: list[dict]) -> str:
    """The per-person difference of the placed 2D error (points of the height) to the reference's, over the
    people both found: 'mean (standard error), better / worse'; '–' with fewer than two such people."""
    theirs = {r["person"]: r["placed_share"] for r in reference if r["found"]}
    diff = np.array([100 * (r["placed_share"] - theirs[r["person"]]) for r in rows if r["found"] and r["person"] in theirs])
    if len(diff) < 2:
        return "–"
    return (f"{diff.mean():+.2f} ({diff.std(ddof=1) / np.sqrt(len(diff)):.2f}), "
            f"{int((diff < 0).sum())} / {int((diff > 0).sum())}")


def report(results: dict[str, dict[int, dict]]) -> list[str]:
    from genhmr_app.bench.run import paired_margin

    names = list(results)
    lines = ["| variant | n | MPJPE | PA-MPJPE | 2D px | MPJPE vs first (95%) | PA-MPJPE vs first | 2D vs first |",
             "|---|---|---|---|---|---|---|---|"]
    for name in names:
        rows = results[name]
        means = [np.mean([r[m] for r in rows.values()]) if rows else float("nan") for m in METRICS]
        cells = []
        for m in METRICS:
            margin = paired_margin({k: r[m] for k, r in rows.items()}, {k: r[m] for k, r in results[names[0]].items()})
            cells.append("–" if name == names[0] or margin is None else
                         f"{margin[0]:+.2f} ({margin[1]:+.2f} to {margin[2]:+.2f})")
        lines.append(f"| {name} | {len(rows)} | {means[0]:.2f} | {means[1]:.2f} | {means[2]:.2f} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="main.py validate", description=__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", default=[], help="NAME=KEY=VALUE,... (repeat; the first is the reference)")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--look", choices=LOOKS, default="flat",
                    help="how the rendered people look: flat garments (the bench's), or dressed (patterns, loose clothes, a face)")
    ap.add_argument("--real", action="store_true", help="also score every variant on the shared real images")
    ap.add_argument("--json", type=Path, help="also write the per-variant means and margins here")
    ap.add_argument("--with-images", action="store_true",
                    help="render the scenes again and give each person their image (the cache keeps none): for a "
                         "landmark corrector that reads image patches")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        variants = [parse_variant(v) for v in (args.variant or ["defaults="])]
    except ValueError as exc:
        ap.error(str(exc))
    torch.set_num_threads(args.threads)
    recons = Reconstructors(Reconstructor(device="cpu"))
    pairs = validation_scenes(recons.shipped, args.seed, args.images, args.look)
    print(f"validation scenes: seed {args.seed}, {args.look} look, {len(pairs)} of {args.images} found by the detector "
          f"(cache {cache_path(args.seed, args.images, args.look)})")
    # A corrector that reads image patches would read none from the cached detections (they keep no
    # image) and be understated: the scenes are rendered again for it whether asked or not.
    reads_patches = any(card_reads_patches(v.corrector or CORRECTOR_PATH) for v in variants
                        if v.settings.landmark_correction)
    if args.with_images or reads_patches:
        if not args.with_images:
            print("a landmark corrector reads image patches: the scenes are rendered again (--with-images)")
        pairs = with_images(recons.shipped, pairs, args.seed, args.images, args.look)
    try:
        results = {v.name: evaluate(recons.for_variant(v), pairs, v) for v in variants}
        real = {v.name: evaluate_real(recons.for_variant(v), v) for v in variants} if args.real else {}
    except (GeneratorCheckpointError, CorrectorError) as exc:  # weights that do not load or do not fit
        print(f"error: {exc}")
        return 1
    lines = report(results)
    if real:
        lines += real_report(real)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "images": args.images, "look": args.look, "found": len(pairs), "table": lines,
                                         "means": {n: {m: float(np.mean([r[m] for r in rows.values()]))
                                                       for m in METRICS} for n, rows in results.items() if rows},
                                         "real": real},
                                        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
