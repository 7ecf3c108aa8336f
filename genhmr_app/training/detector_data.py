"""Training data from the real detector: render → detect → pair with the truth.

`python main.py generate-detector-data [--samples 100000] [--workers 2] [--seed 0] [--out DIR]`

Each sample is a posed body of the embedded model (a training-split motion-capture pose, widened by
mirroring, part recombination and joint-limit perturbation; a random shape) rendered with random
clothing colours (or, with `--look dressed`, patterned loose clothes and a face: appearance.py),
lighting, lens, framing (sometimes cut by the image border) and occluders on a procedural background,
then run through the real MediaPipe landmarker. What it reports (2D,
visibility, presence, depth, world landmarks) is stored beside the true pose, shape and camera, so
the generator learns the detector's structured errors (swaps, depth flips, offsets, missed limbs)
instead of a noise model's idea of them. A share of the chunks are short sequences run in VIDEO mode,
where the landmarker tracks from frame to frame and makes tracking-mode errors.

Chunks are the unit of work, of resumption and of validation: chunk i is fully determined by (seed,
i), is written atomically (temporary file, fsync, rename) with a sidecar holding its SHA-256, and a
chunk whose file is missing, truncated or does not match its sidecar is generated again. Several
worker processes take chunks i ≡ w (mod workers). Renders where the detector finds nobody stay in the
chunk with `found = False`: they are counted, and the loader keeps them out of training.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genhmr_app.detection.landmark_patches import PATCH_SIZE, landmark_patches
from genhmr_app.paths import user_cache_dir
from genhmr_app.training.appearance import LOOKS, dress, dressed_appearance, rest_frame

log = logging.getLogger(__name__)

# 2: banked sensor grain, occluder textures made for their own box (other random streams than 1)
FORMAT = "genhmr-detector-data/2"
IMAGE_SIZES = ((640, 480), (480, 640), (512, 512), (720, 540))
PROCEDURAL_BACKGROUNDS = ("grey", "gradient", "noise", "shapes", "stripes", "room")
VIDEO_FRAME_MS = 100  # the pose cache runs at about 10 fps
OCCLUDER_MIN_TEXTURE = 96  # px: an occluder's texture is made at least this big, then cropped


@dataclass(frozen=True)
class DetectorDataConfig:
    chunk_size: int = 200
    sequence_share: float = 0.25  # share of chunks made of short VIDEO-mode sequences
    sequence_length: int = 10
    truncation_share: float = 0.15  # samples whose body is partly outside the image
    occluder_share: float = 0.2  # samples with one or two occluding shapes over the body
    lying_share: float = 0.05  # samples turned to lie or lean far over
    min_box_fraction: float = 0.3
    max_box_fraction: float = 0.95
    seed: int = 0
    # Poses the motion capture lacks (mocap/augment.py): legs folded (sitting, kneeling, squatting) and
    # limbs drawn anywhere inside the joint limits, each for this share of the poses.
    fold_share: float = 0.0
    wide_share: float = 0.0
    # How the people look (training/appearance.py): "flat" garments on the bare body, or "dressed":
    # patterned, loose clothes and a face. "mixed": each sample draws one of the two.
    look: str = "flat"
    # MediaPipe's tracking passes on each still after its IMAGE-mode look, as the app runs them
    # (detection/tracking_looks.py, ReconstructionSettings.tracking_passes): the first and the last
    # pass's landmarks are kept beside the first look, so that what learns from the detector's 2D (the
    # landmark corrector) also sees the looks the still path fits to. 0: none (data made before).
    tracking_passes: int = 0
    # Keep a grey patch around each landmark the still path fits to (detection/landmark_patches.py), for
    # a corrector that reads the image as well as the landmarks. Stored as the optional field "patches".
    patches: bool = False

    def __post_init__(self) -> None:
        if self.look not in LOOKS + ("mixed",):
            raise ValueError(f"look must be one of {LOOKS + ('mixed',)}, got {self.look!r}")

    @property
    def key(self) -> str:
        # Settings at their off value stay out of the key, so data made before they existed keeps its folder.
        settings = {k: v for k, v in asdict(self).items() if not (k in _ADDED_LATER and v in (0.0, "flat"))}
        return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


_ADDED_LATER = ("fold_share", "wide_share", "look", "tracking_passes", "patches")


def default_out_dir(cfg: DetectorDataConfig) -> Path:
    return user_cache_dir() / "detector_data" / f"{FORMAT.split('/')[0]}-{cfg.key}"


class DetectorDataError(Exception):
    """A chunk that is missing, truncated or does not match its sidecar."""


# --- files ---------------------------------------------------------------------------------------------

def chunk_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"chunk_{index:05d}.npz"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_chunk(out_dir: Path, index: int, arrays: dict[str, np.ndarray], stats: dict) -> None:
    """Atomic: a reader sees the old chunk, no chunk, or the whole new one with its sidecar."""
    path = chunk_path(out_dir, index)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    side = path.with_suffix(".json")
    tmp = side.with_name(side.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"format": FORMAT, "sha256": _sha256(path), **stats}))
    os.replace(tmp, side)


def chunk_is_complete(out_dir: Path, index: int) -> bool:
    path, side = chunk_path(out_dir, index), chunk_path(out_dir, index).with_suffix(".json")
    if not (path.exists() and side.exists()):
        return False
    try:
        meta = json.loads(side.read_text())
        return meta.get("format") == FORMAT and meta.get("sha256") == _sha256(path)
    except (OSError, ValueError):
        return False


def read_chunk(out_dir: Path, index: int) -> dict[str, np.ndarray]:
    path = chunk_path(out_dir, index)
    if not chunk_is_complete(out_dir, index):
        raise DetectorDataError(f"{path} is missing, truncated or does not match its sidecar; "
                                "run `python main.py generate-detector-data` again to regenerate it")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    n = len(arrays["found"])
    for k, (dtype, shape) in FIELDS.items():  # fields added later (the tracking looks): absent, so empty
        arrays.setdefault(k, np.zeros((n, *shape), dtype))
    return arrays


def load_detector_data(out_dir: Path, found_only: bool = True) -> dict[str, np.ndarray]:
    """Every complete chunk in `out_dir`, concatenated; samples where nobody was found are dropped
    (and counted in the log) unless found_only=False."""
    indices = sorted(int(p.stem.split("_")[1]) for p in Path(out_dir).glob("chunk_*.npz"))
    if not indices:
        raise DetectorDataError(f"no detector-data chunks in {out_dir}; run `python main.py generate-detector-data`")
    parts, bad = [], []
    for i in indices:
        try:
            parts.append(read_chunk(out_dir, i))
        except DetectorDataError:
            bad.append(i)
    if bad:
        log.warning("skipping %d damaged chunk(s) (%s); regenerate them with generate-detector-data",
                    len(bad), ", ".join(map(str, bad[:10])))
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if found_only:
        keep = data["found"]
        log.info("detector data: %d samples, %d with nobody found (left out)", len(keep), int((~keep).sum()))
        data = {k: v[keep] for k, v in data.items()}
    return data


def load_detector_datasets(folders: list[Path] | None = None) -> tuple[list[Path], dict[str, np.ndarray]]:
    """The named detector-data folders (default: every one under the user cache), read with
    load_detector_data and concatenated; DetectorDataError when there are none."""
    folders = list(folders) if folders else sorted(p for p in (user_cache_dir() / "detector_data").glob("*") if p.is_dir())
    if not folders:
        raise DetectorDataError("no detector data; run `python main.py generate-detector-data` first")
    parts = [load_detector_data(f) for f in folders]
    # An optional field (OPTIONAL_FIELDS) that only some folders have: zeros elsewhere, and `has_<field>`
    # (N,) bool says which samples really have it.
    for key, (dtype, shape) in OPTIONAL_FIELDS.items():
        if any(key in p for p in parts) and not all(key in p for p in parts):
            for p in parts:
                n = len(p["found"])
                p[f"has_{key}"] = np.full(n, key in p)
                p.setdefault(key, np.zeros((n, *shape), dtype))
    return folders, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# --- scenes --------------------------------------------------------------------------------------------

def _rot(axis: str, rad: float) -> np.ndarray:
    c, s = math.cos(rad), math.sin(rad)
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


# SMPL's frame (Y up, facing +Z) → OpenCV camera (Y down, Z forward): the body faces the camera at yaw 0.
TO_CAMERA = np.diag([1.0, -1.0, -1.0])


def random_camera_orientation(rng: np.random.Generator, cfg: DetectorDataConfig) -> np.ndarray:
    """Global orientation (3, 3) of the body in the camera frame: any yaw, a camera a little above or
    below, a slight roll, and now and then a body lying or leaning far over."""
    body = _rot("y", rng.uniform(-math.pi, math.pi))
    if rng.random() < cfg.lying_share:
        body = _rot("x", rng.choice([-1, 1]) * rng.uniform(1.0, 1.6)) @ body
    camera = _rot("x", math.radians(rng.normal(0, 10))) @ _rot("z", math.radians(rng.normal(0, 4)))
    return camera @ TO_CAMERA @ body


def place_in_image(vertices: np.ndarray, focal: float, wh: tuple[int, int], box_fraction: float,
                   centre_uv: tuple[float, float]) -> np.ndarray:
    """Translation (3,) that makes the body `box_fraction` of the image height tall with its centre at
    `centre_uv` (fractions of width/height; outside 0.1–0.9 the border cuts the body)."""
    w, h = wh
    lo, hi = vertices.min(0), vertices.max(0)
    centre = (lo + hi) / 2
    size = max(hi[1] - lo[1], 0.6 * (hi[0] - lo[0]))
    depth = focal * size / (box_fraction * h) + (hi[2] - lo[2]) / 2
    u, v = centre_uv
    return np.array([(u - 0.5) * w / focal * depth, (v - 0.5) * h / focal * depth, depth]) - centre


def draw_occluders(image: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator) -> np.ndarray:
    """One or two shapes (plain or textured) over part of the body's box, like a table, a bag or a post."""
    import cv2

    from genhmr_app.training import render as rnd

    out = image.copy()
    h, w = out.shape[:2]
    x0, y0, x1, y1 = box
    for _ in range(int(rng.integers(1, 3))):
        bw, bh = (x1 - x0) * rng.uniform(0.25, 0.7), (y1 - y0) * rng.uniform(0.15, 0.45)
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        mask = np.zeros((h, w), np.uint8)
        if rng.random() < 0.6:
            cv2.rectangle(mask, (int(cx - bw / 2), int(cy - bh / 2)), (int(cx + bw / 2), int(cy + bh / 2)), 255, -1)
        else:
            cv2.ellipse(mask, (int(cx), int(cy)), (max(int(bw / 2), 2), max(int(bh / 2), 2)),
                        float(rng.uniform(0, 180)), 0, 360, 255, -1)
        # The texture only where the shape is (a whole image's worth took an eighth of the time).
        ys, xs = np.nonzero(mask)
        kind = str(rng.choice(PROCEDURAL_BACKGROUNDS[1:]))
        if len(ys) == 0:
            continue
        top, left = ys.min(), xs.min()
        # At least 96 px a side: the textures' own proportions (stripe periods, furniture sizes) need room.
        size = (max(int(xs.max() - left + 1), OCCLUDER_MIN_TEXTURE),
                max(int(ys.max() - top + 1), OCCLUDER_MIN_TEXTURE))
        fill = rnd.make_background(kind, size, rng, grain=rnd.banked_grain)
        out[ys, xs] = fill[ys - top, xs - left]
    return out


# --- one chunk: render → detect → pair -----------------------------------------------------------------

FIELDS = {
    # the truth
    "body_pose": (np.float32, (23, 3, 3)), "global_orient": (np.float32, (3, 3)), "betas": (np.float32, (10,)),
    "transl": (np.float32, (3,)), "focal": (np.float32, ()), "image_wh": (np.int32, (2,)),
    "truth_px": (np.float32, (33, 2)), "truth_cam": (np.float32, (33, 3)),
    # what the detector reported
    "found": (np.bool_, ()), "det_px": (np.float32, (33, 2)), "det_z": (np.float32, (33,)),
    "visibility": (np.float32, (33,)), "presence": (np.float32, (33,)), "world": (np.float32, (33, 3)),
    "bbox": (np.float32, (4,)),
    # the tracking passes' looks on a still (DetectorDataConfig.tracking_passes; `tracked` False: none)
    "tracked": (np.bool_, ()), "first_pass_px": (np.float32, (33, 2)), "first_pass_conf": (np.float32, (33,)),
    "tracked_px": (np.float32, (33, 2)), "tracked_conf": (np.float32, (33,)),
    # provenance
    "sequence": (np.int32, ()), "frame": (np.int32, ()), "truncated": (np.bool_, ()), "occluded": (np.bool_, ()),
    "background": (np.int32, ()),
    # drawn in the dressed look (DetectorDataConfig.look; False in every sample made before it was kept)
    "dressed": (np.bool_, ()),
}
# Kept only by data made with DetectorDataConfig.patches: (33, PATCH_SIZE, PATCH_SIZE) grey uint8 around
# the landmarks the still path fits (the last tracking pass's, else the first look's).
OPTIONAL_FIELDS = {"patches": (np.uint8, (33, PATCH_SIZE, PATCH_SIZE))}


class ChunkMaker:
    """Holds the body model, the renderers and the poses for one worker process."""

    def __init__(self, cfg: DetectorDataConfig, poses: np.ndarray, clip_starts: np.ndarray) -> None:
        import torch

        from genhmr_app.body.model import load_body_model
        from genhmr_app.mocap.augment import JointLimits
        from genhmr_app.training import render as rnd

        torch.set_num_threads(1)
        self.cfg = cfg
        self.poses = torch.as_tensor(poses)
        self.clip_starts = clip_starts
        self.limits = JointLimits.from_data(self.poses)
        self.body = load_body_model()
        self.regions = rnd.body_regions(self.body)
        self.rest = rest_frame(self.body) if cfg.look != "flat" else None
        self._renderers: dict[tuple[int, int], object] = {}
        self._still_detector = None  # one IMAGE-mode landmarker for all stills (creating one costs ~0.1 s)
        self._tracker = None  # the still path's tracking passes (DetectorDataConfig.tracking_passes)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
        if self._still_detector is not None:
            self._still_detector.close()
        if self._tracker is not None:
            self._tracker.close()

    def _renderer(self, wh: tuple[int, int]):
        from genhmr_app.training import render as rnd

        if wh not in self._renderers:
            # No supersampling: the landmarker sees a 256 px crop, so edge anti-aliasing buys nothing
            # and a 2x render costs about 3x the time.
            self._renderers[wh] = rnd.PersonRenderer(self.body.faces, wh, supersample=1)
        return self._renderers[wh]

    def _widen(self, pose, gen):
        """Mirroring, part recombination and joint-limit perturbation reach poses the clips lack."""
        import torch

        from genhmr_app.mocap.augment import fold_legs, mirror, mix_parts, wide_limbs

        if torch.rand(1, generator=gen) < 0.5:
            pose = mirror(pose)
        if torch.rand(1, generator=gen) < 0.3:
            pose = mix_parts(pose, gen)
        if torch.rand(1, generator=gen) < 0.3:
            pose = self.limits.perturb(pose, generator=gen)
        # Only drawn when asked for, so that older datasets' random streams stay as they were.
        if self.cfg.fold_share > 0 and torch.rand(1, generator=gen) < self.cfg.fold_share:
            pose = fold_legs(pose, gen)
        if self.cfg.wide_share > 0 and torch.rand(1, generator=gen) < self.cfg.wide_share:
            pose = wide_limbs(pose, gen)
        return pose

    def make(self, index: int) -> tuple[dict[str, np.ndarray], dict]:
        import torch

        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, index])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        is_sequence = rng.random() < cfg.sequence_share
        n = cfg.chunk_size
        fields = {**FIELDS, **(OPTIONAL_FIELDS if cfg.patches else {})}
        rows = {k: np.zeros((n, *shape), dtype) for k, (dtype, shape) in fields.items()}
        t0 = time.perf_counter()
        render_s = detect_s = 0.0
        if is_sequence:
            groups = [list(range(s, min(s + cfg.sequence_length, n))) for s in range(0, n, cfg.sequence_length)]
        else:
            groups = [[i] for i in range(n)]
        for g, members in enumerate(groups):
            r, d = self._make_group(rows, members, index * n + members[0] if is_sequence else -1, rng, gen)
            render_s += r
            detect_s += d
        stats = {"index": index, "samples": n, "found": int(rows["found"].sum()), "sequence_chunk": bool(is_sequence),
                 "seconds": round(time.perf_counter() - t0, 2), "render_s": round(render_s, 2),
                 "detect_s": round(detect_s, 2)}
        return rows, stats

    def _track(self, rows, row: int, image: np.ndarray, person) -> None:
        """The still's tracking passes, as Reconstructor.look_again makes them; nothing when a pass loses the person."""
        from genhmr_app.detection.tracking_looks import StillTracker

        if self._tracker is None:
            self._tracker = StillTracker()
        heard = {}
        look = self._tracker.look(image, person, self.cfg.tracking_passes, on_pass=lambda k, t: heard.setdefault(k, t))
        if look is None:
            return
        first = heard.get(1, look)
        rows["tracked"][row] = True
        rows["first_pass_px"][row], rows["first_pass_conf"][row] = first.landmarks_px, first.confidence
        rows["tracked_px"][row], rows["tracked_conf"][row] = look.landmarks_px, look.confidence

    def _make_group(self, rows, members: list[int], sequence_id: int, rng: np.random.Generator, gen) -> tuple[float, float]:
        """One still (len(members) == 1) or one VIDEO-mode sequence of consecutive clip frames."""
        import torch

        from genhmr_app.detection.detector import PoseDetector
        from genhmr_app.training import render as rnd

        cfg = self.cfg
        video = sequence_id >= 0
        if video:
            starts = self.clip_starts
            clip = int(rng.integers(len(starts) - 1))
            lo, hi = int(starts[clip]), int(starts[clip + 1])
            first = int(rng.integers(lo, max(lo + 1, hi - len(members))))
            frames = np.clip(np.arange(first, first + len(members)), lo, hi - 1)
            pose = self.poses[frames]
            if torch.rand(1, generator=gen) < 0.5:
                from genhmr_app.mocap.augment import mirror

                pose = mirror(pose)
        else:
            pose = self._widen(self.poses[torch.randint(0, len(self.poses), (1,), generator=gen)], gen)
        betas = np.clip(rng.normal(0, 1.0, 10), -2.5, 2.5).astype(np.float32)
        orient0 = random_camera_orientation(rng, cfg)
        wh = IMAGE_SIZES[int(rng.integers(len(IMAGE_SIZES)))]
        vfov = math.radians(rng.uniform(35, 75))
        focal = 0.5 * wh[1] / math.tan(vfov / 2)
        truncated = rng.random() < cfg.truncation_share
        box_fraction = rng.uniform(cfg.min_box_fraction, cfg.max_box_fraction)
        if truncated:
            box_fraction = rng.uniform(0.7, 1.3)
            centre = (rng.uniform(0.2, 0.8), rng.choice([rng.uniform(-0.05, 0.2), rng.uniform(0.8, 1.05)]))
        else:
            centre = (rng.uniform(0.3, 0.7), rng.uniform(0.4, 0.6))
        occluded = rng.random() < cfg.occluder_share
        outfit = rnd.random_outfit(rng)
        colours = self.regions.colours(outfit)
        offsets = None
        # Drawn only for a look other than flat, so that flat datasets' random streams stay as they were.
        dressed = cfg.look == "dressed" or (cfg.look == "mixed" and rng.random() < 0.5)
        if dressed:
            appearance = dressed_appearance(self.regions, self.rest, outfit, rng)
            colours, offsets = appearance.colours, appearance.offsets
        bg_kind = int(rng.integers(len(PROCEDURAL_BACKGROUNDS)))
        background = rnd.make_background(PROCEDURAL_BACKGROUNDS[bg_kind], wh, rng, grain=rnd.banked_grain)
        lighting = rnd.random_lighting(rng)
        yaw_rate = rng.normal(0, 0.03)  # the camera circles slowly during a sequence
        if video:
            detector = PoseDetector(mode="video", num_poses=1)  # fresh tracking state per sequence
        else:
            if self._still_detector is None:
                self._still_detector = PoseDetector(mode="image", num_poses=1)
            detector = self._still_detector
        render_s = detect_s = 0.0
        transl = None
        try:
            for j, row in enumerate(members):
                orient = orient0 @ _rot("y", yaw_rate * j) if video else orient0
                with torch.no_grad():
                    out = self.body(torch.as_tensor(orient, dtype=torch.float32)[None], pose[j:j + 1],
                                    torch.as_tensor(betas)[None])
                v = out.vertices[0].numpy()
                kp = out.keypoints_mediapipe33[0].numpy()
                if transl is None:  # a sequence keeps the first frame's placement: the body moves in view
                    transl = place_in_image(v, focal, wh, box_fraction, centre)
                v, kp = v + transl, kp + transl
                if offsets is not None:
                    v = dress(v, self.rest.faces, offsets)
                if v[:, 2].min() <= 0.05:
                    continue  # behind the camera: leave the row empty (found = False)
                t = time.perf_counter()
                res = self._renderer(wh).render(v, focal, colours, background, lighting, with_depth=False)
                px = kp[:, :2] / kp[:, 2:3] * focal + np.array([wh[0] / 2, wh[1] / 2])
                image = res.image
                if occluded:
                    image = draw_occluders(image, (*px.min(0), *px.max(0)), np.random.default_rng([rng.integers(2**31), j]))
                image = rnd.degrade(image, rng, grain=rnd.banked_grain)
                render_s += time.perf_counter() - t
                t = time.perf_counter()
                result = detector.detect(image, timestamp_ms=j * VIDEO_FRAME_MS) if video else detector.detect(image)
                detect_s += time.perf_counter() - t
                rows["body_pose"][row] = pose[j].numpy()
                rows["global_orient"][row] = orient
                rows["betas"][row] = betas
                rows["transl"][row] = transl
                rows["focal"][row] = focal
                rows["image_wh"][row] = wh
                rows["truth_px"][row] = px
                rows["truth_cam"][row] = kp
                rows["sequence"][row] = sequence_id
                rows["frame"][row] = j if video else -1
                rows["truncated"][row] = truncated
                rows["occluded"][row] = occluded
                rows["background"][row] = bg_kind
                rows["dressed"][row] = dressed
                if result.people:
                    p = result.people[0]
                    rows["found"][row] = True
                    rows["det_px"][row] = p.landmarks_px
                    rows["det_z"][row] = p.landmarks_z
                    rows["visibility"][row] = p.visibility
                    rows["presence"][row] = p.presence
                    rows["world"][row] = p.world_landmarks
                    rows["bbox"][row] = p.bbox
                    if not video and cfg.tracking_passes > 0:
                        t = time.perf_counter()
                        self._track(rows, row, image, p)
                        detect_s += time.perf_counter() - t
                    if cfg.patches:
                        fitted = rows["tracked_px"][row] if rows["tracked"][row] else p.landmarks_px
                        rows["patches"][row] = landmark_patches(image, fitted, p.bbox)
        finally:
            if video:
                detector.close()
        return render_s, detect_s


# --- the command ---------------------------------------------------------------------------------------

def _training_poses() -> tuple[np.ndarray, np.ndarray]:
    """Train-split poses (N, 23, 3, 3) and the start index of each clip (for sequences)."""
    import roma
    import torch

    from genhmr_app.body.model import embedded_model_path
    from genhmr_app.mocap.dataset import load_pose_dataset, rest_joints_from_npz

    split = load_pose_dataset(rest_joints_from_npz(embedded_model_path())).splits["train"]
    poses = roma.rotvec_to_rotmat(torch.as_tensor(split.body_pose, dtype=torch.float32)).numpy()
    change = np.nonzero(split.clip[1:] != split.clip[:-1])[0] + 1
    return poses, np.concatenate([[0], change, [len(poses)]])


def _load_poses(poses_file: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if poses_file is None:
        return _training_poses()
    with np.load(poses_file) as z:  # tests and custom pose sets: "poses" (N, 23, 3, 3), "starts"
        return z["poses"].astype(np.float32), z["starts"]


def die_with_parent() -> None:
    """Have this process stopped when its parent dies. Workers are daemons, which only helps when the
    parent exits on its own: a parent killed (by a signal, by `kill`) left them rendering on. Linux
    delivers SIGTERM on the parent's death (prctl PR_SET_PDEATHSIG); elsewhere the workers check their
    parent between chunks."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _worker(worker: int, workers: int, cfg: DetectorDataConfig, chunks: int, out_dir: Path, queue,
            poses_file: Path | None = None) -> None:
    parent = os.getppid()
    die_with_parent()
    logging.basicConfig(level=logging.WARNING)
    poses, starts = _load_poses(poses_file)
    maker = ChunkMaker(cfg, poses, starts)
    try:
        for i in range(worker, chunks, workers):
            if os.getppid() != parent:  # orphaned: whoever started us is gone
                return
            if chunk_is_complete(out_dir, i):
                continue
            rows, stats = maker.make(i)
            write_chunk(out_dir, i, rows, stats)
            queue.put(stats)
    finally:
        maker.close()
        queue.put(None)


def generate(cfg: DetectorDataConfig, samples: int, workers: int, out_dir: Path, poses_file: Path | None = None,
             progress: bool = True) -> dict:
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps({"format": FORMAT, **asdict(cfg)}, indent=2))
    chunks = math.ceil(samples / cfg.chunk_size)
    todo = [i for i in range(chunks) if not chunk_is_complete(out_dir, i)]
    for i in todo:  # a damaged chunk is regenerated from scratch
        for stale in (chunk_path(out_dir, i), chunk_path(out_dir, i).with_suffix(".json")):
            stale.unlink(missing_ok=True)
    log.info("%d of %d chunks to make in %s (%d workers)", len(todo), chunks, out_dir, workers)
    if poses_file is None and todo:
        # The pose cache is built here, once, before the workers start: each would otherwise find it
        # missing (or stale) and build it at the same time.
        _training_poses()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(w, workers, cfg, chunks, out_dir, queue, poses_file), daemon=True)
             for w in range(workers)]
    for p in procs:
        p.start()
    done, found, made, start = 0, 0, 0, time.time()
    bar = tqdm(total=len(todo) * cfg.chunk_size, desc="render→detect", unit="sample", dynamic_ncols=True,
               disable=not progress)
    with (out_dir / "log.jsonl").open("a") as log_file:
        while done < workers:
            try:
                stats = queue.get(timeout=5)
            except Exception:  # noqa: BLE001 - queue.Empty: check that the workers are still alive
                if not any(p.is_alive() for p in procs):
                    break
                continue
            if stats is None:
                done += 1
                continue
            made += stats["samples"]
            found += stats["found"]
            stats["throughput_per_s"] = round(made / max(time.time() - start, 1e-6), 2)
            log_file.write(json.dumps(stats) + "\n")
            log_file.flush()
            bar.update(stats["samples"])
            bar.set_postfix(found=f"{found / max(made, 1):.1%}", per_s=stats["throughput_per_s"])
    bar.close()
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode]
    complete = sum(chunk_is_complete(out_dir, i) for i in range(chunks))
    summary = {"out": str(out_dir), "chunks_complete": complete, "chunks": chunks, "made_now": made,
               "found_now": found, "seconds": round(time.time() - start, 1),
               "samples_per_s": round(made / max(time.time() - start, 1e-6), 2), "worker_failures": failed}
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="main.py generate-detector-data", description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=DetectorDataConfig.seed)
    p.add_argument("--chunk-size", type=int, default=DetectorDataConfig.chunk_size)
    p.add_argument("--out", type=Path, default=None, help="chunk folder (default: the user cache)")
    p.add_argument("--fold-share", type=float, default=DetectorDataConfig.fold_share,
                   help="share of poses with folded legs (sitting, kneeling, squatting)")
    p.add_argument("--wide-share", type=float, default=DetectorDataConfig.wide_share,
                   help="share of poses with limbs drawn anywhere inside the joint limits")
    p.add_argument("--look", choices=LOOKS + ("mixed",), default=DetectorDataConfig.look,
                   help="how the people look: flat garments, dressed (patterns, loose clothes, a face), or either")
    p.add_argument("--tracking-passes", type=int, default=DetectorDataConfig.tracking_passes,
                   help="also run the still path's tracking passes on each still and keep their looks")
    p.add_argument("--patches", action="store_true",
                   help="also keep a grey patch around each fitted landmark (detection/landmark_patches.py)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = DetectorDataConfig(chunk_size=args.chunk_size, seed=args.seed, fold_share=args.fold_share,
                             wide_share=args.wide_share, look=args.look,
                             tracking_passes=args.tracking_passes, patches=args.patches)
    out = args.out or default_out_dir(cfg)
    summary = generate(cfg, args.samples, args.workers, out)
    print(json.dumps(summary, indent=2))
    return 1 if summary["worker_failures"] else 0
