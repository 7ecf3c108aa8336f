"""Offline 2D/3D body landmarks with MediaPipe's Pose Landmarker (full model) on the CPU.

MediaPipe finds people with a 224x224 letterboxed detector, so a small or far person in a big
frame is often missed or badly framed. In IMAGE mode we therefore retry, within a time budget:
at a lower detection confidence, then on overlapping tiles, and refine any small person on a crop
around them. Every coordinate handed back is in the caller's original pixels, whatever scaling
or cropping produced it.
"""

from __future__ import annotations

import threading
import time
import weakref
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from genhmr_app.detection.landmark_patches import grey_image, landmark_patches
from genhmr_app.detection.landmarks import COCO17_FROM_MP33
from genhmr_app.detection.regions import (
    Region,
    box_iou,
    check_image,
    fit_region,
    square_crop,
    tile_crops,
)
from genhmr_app.paths import WEIGHTS_DIR

DEFAULT_TASK_PATH = WEIGHTS_DIR / "detector" / "pose_landmarker_full.task"
def _rebuild_hint() -> str:
    from genhmr_app.paths import repair_hint, running_from_checkout

    if running_from_checkout():
        return "Rebuild it with `python main.py build-detector` (needs pip access to PyPI once)."
    return repair_hint(DEFAULT_TASK_PATH)


REBUILD_HINT = _rebuild_hint()
_BUNDLE_MEMBERS = ("pose_detector.tflite", "pose_landmarks_detector.tflite")

# A person shorter than this share of the image height gets a second look on a crop.
SMALL_PERSON_FRACTION = 0.25
# FACTS: a small person missed at 0.5 was found at 0.2.
RETRY_DETECTION_CONFIDENCE = 0.2
# Crop side around a person, as a multiple of their box's long side. Confirming a tile hit wants a
# tight crop (1.5: the person fills most of the detector's input); refining a small person wants a
# bit more context so that a slightly wrong first box still contains the whole body.
CONFIRM_CONTEXT = 1.5
FOLLOW_CONTEXT = 1.6  # crop side / box side when following a person from the previous frame
REFINE_CONTEXT = 2.0
# A crop hit is the same person as the candidate above this box IoU (below, it locked onto someone else).
MATCH_IOU = 0.3
# Whole-image low-confidence hits below this mean presence are ghosts (seen on plain backgrounds).
MIN_RETRY_SCORE = 0.5
# Tile sizes as fractions of the image's short side, tried in order (see regions.tile_crops).
TILE_LEVELS = (2 / 3, 1 / 3)
# Tiles smaller than this (original px) only hold people too small to give usable landmarks.
MIN_TILE_SIDE = 256
# Crops smaller than this are upscaled so the landmark model's ROI is resampled smoothly.
MIN_CROP_SIDE = 512
# Retries stop starting new passes after this long (each pass costs ~30 ms at 2 cores).
RETRY_BUDGET_MS = 1500.0
# Box margin around the landmark extent (the top landmarks are the eyes, not the top of the head).
BOX_MARGIN = 0.12
# A landmark counts as visible for the box above this visibility.
VISIBLE = 0.5
# Two detections overlapping this much (intersection over the smaller box) are the same person.
SAME_PERSON_OVERLAP = 0.6


class DetectorError(Exception):
    """The detector cannot run: model file missing or corrupt, MediaPipe unavailable, or closed."""


@dataclass
class DetectedPerson:
    landmarks_px: np.ndarray  # (33, 2) float32, original-image pixels (pixel i spans [i, i+1))
    landmarks_z: np.ndarray  # (33,) float32, MediaPipe relative depth in the same px scale as x
    visibility: np.ndarray  # (33,) float32, P(landmark visible, not occluded)
    presence: np.ndarray  # (33,) float32, P(landmark inside the image)
    world_landmarks: np.ndarray  # (33, 3) float32, metres, origin mid-hip, MediaPipe axes (y down)
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 px, from visible landmarks + margin
    score: float  # mean presence of the 17 COCO body points (the Tasks API exposes no detector score)
    mask: np.ndarray | None = None  # (H, W) float32 in [0, 1] when output_mask=True
    # (33, 2) px: MediaPipe's 2D after tracking passes on the same still (detection/tracking_looks.py),
    # which the joint fit pulls onto when present; None: not asked for, or the tracker lost the person.
    tracked_px: np.ndarray | None = None
    # (33,) the tracking pass's heatmap peak for each landmark (detection/landmark_pass.py): how sure its
    # network is of the spot; the fit weighs the landmark by it too. None with tracked_px.
    tracked_confidence: np.ndarray | None = None
    # With two or more passes: the first pass's look and certainty, which the joint fit starts on while the
    # last pass runs (Reconstructor: ReconstructionSettings.last_look_fit_iterations). None: one pass or none.
    first_pass_px: np.ndarray | None = None
    first_pass_confidence: np.ndarray | None = None
    # The RGB image the person was found in, by reference (not a copy): a patch-reading landmark corrector
    # cuts its patches from it (detection/landmark_patches.py). None where no image is at hand.
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    # Where the image cannot go (the model process: only small things cross to it), the patches already cut
    # around each of this person's looks: (the look's landmarks (33, 2) px, their patches (33, P, P) uint8)
    # pairs, ~19 KB a look (DetectionResult.with_patches_cut).
    cut_patches: tuple[tuple[np.ndarray, np.ndarray], ...] = field(default=(), repr=False, compare=False)
    # The image made grey, kept once made: a still's fit corrects two looks, each cut from it (9 ms a
    # conversion for a 12-megapixel photo).
    _grey: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def coco17(self) -> np.ndarray:
        """(17, 3) float32 [x, y, confidence] in COCO order; confidence is MediaPipe's visibility."""
        out = np.empty((17, 3), np.float32)
        out[:, :2] = self.landmarks_px[list(COCO17_FROM_MP33)]
        out[:, 2] = self.visibility[list(COCO17_FROM_MP33)]
        return out

    @property
    def box_height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    def looks(self) -> list[np.ndarray]:
        """The distinct (33, 2) px looks this person carries: MediaPipe's first, the tracking passes' last
        and first (a fit corrects whichever it is on)."""
        out: list[np.ndarray] = []
        for look in (self.landmarks_px, self.tracked_px, self.first_pass_px):
            if look is not None and not any(np.array_equal(look, seen) for seen in out):
                out.append(look)
        return out

    def patches_around(self, look_px: np.ndarray) -> np.ndarray | None:
        """(33, P, P) uint8 patches around `look_px` (detection/landmark_patches.py): cut from the image
        when the person holds it, else the ones cut for that look before the image was dropped; None
        when neither is at hand."""
        if self.image is not None:
            return landmark_patches(self.grey_image(), look_px, self.bbox)
        for look, patches in self.cut_patches:
            if np.array_equal(look, look_px):
                return patches
        return None

    def grey_image(self) -> np.ndarray | None:
        """The person's image made grey (grey_image), converted on first use; None without an image."""
        if self._grey is None and self.image is not None:
            self._grey = grey_image(self.image)
        return self._grey

    def without_image(self) -> DetectedPerson:
        """This person holding neither the image nor patches cut from it: for what is kept."""
        return replace(self, image=None, cut_patches=())

    def with_patches_cut(self, grey: np.ndarray | None = None) -> DetectedPerson:
        """Without the image, but with the patches around each of its looks (`cut_patches`); as it is
        when there is no image. `grey`: the image already made grey (grey_image), shared by its people."""
        if self.image is None:
            return self
        grey = self.grey_image() if grey is None else grey  # converted once for all the looks
        cut = tuple((look, landmark_patches(grey, look, self.bbox)) for look in self.looks())
        return replace(self, image=None, cut_patches=cut)


@dataclass
class DetectionResult:
    image_width: int
    image_height: int
    people: list[DetectedPerson]
    timing_ms: float
    scale_used: float  # model px per original px of the pass that found the (first) person
    retried: bool  # any pass beyond the plain full-image one ran
    strategy: str = "full"  # "full", "full-lowconf", "tiles", "+crop" suffix, or "none"
    passes: int = 1  # model invocations spent on this image
    timestamp_ms: int | None = None  # VIDEO mode: the (possibly patched) timestamp used

    @property
    def found(self) -> bool:
        return bool(self.people)

    def without_images(self) -> DetectionResult:
        """The same detection with no person holding the image (DetectedPerson.image): for what keeps
        detections (results, caches) or sends them to another process."""
        return replace(self, people=[p.without_image() for p in self.people])

    def with_patches_cut(self) -> DetectionResult:
        """The same detection for another process: no image, but each person's patches cut around each
        of their looks (DetectedPerson.with_patches_cut), which a patch-reading corrector reads there."""
        greys: dict[int, np.ndarray] = {}  # the people of one image share its grey copy
        people = []
        for person in self.people:
            if person.image is not None and id(person.image) not in greys:
                greys[id(person.image)] = grey_image(person.image)
            people.append(person.with_patches_cut(None if person.image is None else greys[id(person.image)]))
        return replace(self, people=people)


@dataclass
class _Candidate:
    person: DetectedPerson
    region: Region
    raw_box: tuple[float, float, float, float]  # unclipped landmark box, for tile-edge checks
    mask_small: np.ndarray | None = field(default=None, repr=False)
    from_crop: bool = False


def _close_all(landmarkers: list[Any]) -> None:
    # Runs from close(), garbage collection or interpreter exit (weakref.finalize), whichever is
    # first; MediaPipe raises if a landmarker is still open while the interpreter tears down.
    while landmarkers:
        lm = landmarkers.pop()
        try:
            lm.close()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass


def check_task_file(path: Path) -> None:
    """Fail early, with the path and the fix, instead of MediaPipe's terse (or fatal) errors."""
    if not path.exists():
        raise DetectorError(f"Pose model not found: {path}\n{REBUILD_HINT}")
    if not path.is_file():
        raise DetectorError(f"Pose model path is not a file: {path}\n{REBUILD_HINT}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [m for m in _BUNDLE_MEMBERS if m not in names]
            if missing:
                raise DetectorError(f"Pose model {path} is not a Pose Landmarker bundle "
                                    f"(missing {', '.join(missing)}).\n{REBUILD_HINT}")
            for m in _BUNDLE_MEMBERS:
                with zf.open(m) as f:
                    head = f.read(8)
                if head[4:8] != b"TFL3":
                    raise DetectorError(f"Pose model {path} is corrupt ({m} is not a TFLite model).\n"
                                        f"{REBUILD_HINT}")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DetectorError(f"Pose model {path} is corrupt or not a MediaPipe .task file ({exc}).\n"
                            f"{REBUILD_HINT}") from exc


class PoseDetector:
    """MediaPipe Pose Landmarker with coordinate mapping, small-person retries and safe shutdown.

    Not for concurrent use from several threads at once (calls are serialised by a lock).
    """

    def __init__(
        self,
        task_path: Path | None = None,
        mode: Literal["image", "video"] = "image",
        num_poses: int = 1,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        output_mask: bool = False,
        max_side: int = 1920,
        *,
        retry: bool = True,
        retry_budget_ms: float = RETRY_BUDGET_MS,
    ) -> None:
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', got {mode!r}")
        if num_poses < 1:
            raise ValueError(f"num_poses must be >= 1, got {num_poses}")
        if max_side < 64:
            raise ValueError(f"max_side must be >= 64, got {max_side}")
        self.task_path = Path(task_path) if task_path is not None else DEFAULT_TASK_PATH
        self.mode = mode
        self.num_poses = int(num_poses)
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_presence_confidence = float(min_presence_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.output_mask = bool(output_mask)
        self.max_side = int(max_side)
        self.retry = bool(retry) and mode == "image"
        self.retry_budget_ms = float(retry_budget_ms)

        self._lock = threading.Lock()
        self._last_ts: int | None = None
        self._passes = 0
        self._landmarkers: list[Any] = []
        # Closes the MediaPipe graphs even if the caller forgets close(); holds no reference to self.
        self._finalizer = weakref.finalize(self, _close_all, self._landmarkers)
        self._main = self._create(self.min_detection_confidence, video=(mode == "video"))
        self._retry_lm: Any = None

    # -- lifecycle -----------------------------------------------------------------------------

    def _create(self, detection_confidence: float, video: bool) -> Any:
        check_task_file(self.task_path)
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as exc:  # pragma: no cover - dependency missing
            raise DetectorError(f"MediaPipe is not installed or failed to import: {exc}") from exc
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.task_path)),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_poses=self.num_poses,
            min_pose_detection_confidence=detection_confidence,
            min_pose_presence_confidence=self.min_presence_confidence,
            min_tracking_confidence=self.min_tracking_confidence,
            output_segmentation_masks=self.output_mask,
        )
        try:
            lm = vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError, OSError) as exc:
            raise DetectorError(f"MediaPipe could not load the pose model {self.task_path}: {exc}\n"
                                f"{REBUILD_HINT}") from exc
        self._landmarkers.append(lm)
        return lm

    def _retry_landmarker(self) -> Any:
        if self._retry_lm is None:
            conf = min(self.min_detection_confidence, RETRY_DETECTION_CONFIDENCE)
            self._retry_lm = self._create(conf, video=False)
        return self._retry_lm

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Release the MediaPipe graphs. Safe to call more than once."""
        with self._lock:
            self._finalizer()
            self._main = None
            self._retry_lm = None

    def __enter__(self) -> PoseDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- detection -----------------------------------------------------------------------------

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> DetectionResult:
        """Detect people in an RGB (or greyscale / RGBA) uint8 image.

        VIDEO mode: timestamps must increase; a missing or non-increasing one is replaced by the
        previous + 33 ms (None) or + 1 ms (repeat/backwards), so a caller that restarts a clip or
        drops timestamps does not crash MediaPipe's tracker.
        """
        image = check_image(rgb)
        with self._lock:
            if self.closed:
                raise DetectorError("PoseDetector is closed")
            t0 = time.perf_counter()
            if self.mode == "video":
                ts = self._next_timestamp(timestamp_ms)
                result = self._detect_video(image, ts)
                result.timestamp_ms = ts
            else:
                result = self._detect_image(image, t0)
            result.timing_ms = (time.perf_counter() - t0) * 1000.0
            return result

    def _next_timestamp(self, timestamp_ms: int | None) -> int:
        if timestamp_ms is None:
            ts = 0 if self._last_ts is None else self._last_ts + 33
        else:
            ts = int(timestamp_ms)
            if self._last_ts is not None and ts <= self._last_ts:
                ts = self._last_ts + 1
        self._last_ts = ts
        return ts

    def _detect_video(self, image: np.ndarray, ts: int) -> DetectionResult:
        h, w = image.shape[:2]
        region = fit_region(0, 0, w, h, self.max_side)
        cands = self._infer(self._main, image, region, ts)
        return self._finish(image, cands, region.scale, retried=False,
                            strategy="full" if cands else "none", passes=1)

    def _detect_image(self, image: np.ndarray, t0: float) -> DetectionResult:
        h, w = image.shape[:2]
        full = fit_region(0, 0, w, h, self.max_side)
        self._passes = 0  # counted in _infer
        cands = self._infer(self._main, image, full)
        strategy = "full"
        if not self.retry:
            return self._finish(image, cands, full.scale, False, strategy if cands else "none", 1)

        deadline = t0 + self.retry_budget_ms / 1000.0
        if not cands:
            # Low confidence on the whole image rescues clear but unusual views (deep crouch,
            # B/W, tiny thumbnails); the score floor drops the faint ghosts it also produces.
            low = [c for c in self._infer(self._retry_landmarker(), image, full)
                   if c.person.score >= MIN_RETRY_SCORE]
            strategy = "full-lowconf"
            # A small low-confidence hit is kept only if a crop around it finds it again: alone it
            # is often a wrong or garbled skeleton (measured: 50-60% joint error on crowded photos).
            cands = []
            for c in low:
                if c.person.box_height < SMALL_PERSON_FRACTION * h:
                    c = self._crop_pass(image, c, self._retry_landmarker(), REFINE_CONTEXT)
                if c is not None:
                    cands.append(c)
        # Tiles only when nothing at all was found: on an image that already gave a person they mostly
        # add false positives (wheels, shadows) that MediaPipe scores as confidently as real people.
        if not cands and time.perf_counter() < deadline:
            cands = self._tiles(image, deadline)
            strategy = "tiles"

        for i, c in enumerate(cands):
            if time.perf_counter() >= deadline:
                break
            if c.from_crop or c.person.box_height >= SMALL_PERSON_FRACTION * h:
                continue
            better = self._crop_pass(image, c, self._retry_landmarker(), REFINE_CONTEXT)
            if better is not None:
                cands[i] = better
        if strategy != "tiles" and any(c.from_crop for c in cands):
            strategy += "+crop"
        cands = _dedupe(cands)[: self.num_poses]
        scale = cands[0].region.scale if cands else full.scale
        return self._finish(image, cands, scale, self._passes > 1, strategy if cands else "none",
                            self._passes)

    def detect_everyone(self, rgb: np.ndarray, max_people: int = 10, rounds: int = 4,
                        budget_ms: float = 4000.0) -> DetectionResult:
        """Every person in a still image, not only the ones MediaPipe's person detector picks first.

        MediaPipe's detector tends to report the most prominent people and miss the rest (about 4 in
        10 annotated people in crowd photos). Here the people found so far are painted over and the
        image is searched again, a few rounds; then tiles are searched on what is left. Every new hit
        is confirmed by the normal-confidence landmarker on a crop of the ORIGINAL image around it
        (which also gives it full-resolution landmarks), so paint edges and clutter do not count."""
        return self._find_people(rgb, [], max_people, rounds, budget_ms, True, "everyone")

    def _search_everyone(self, image: np.ndarray, found: list[_Candidate], max_people: int, rounds: int,
                         deadline: float) -> list[_Candidate]:
        """detect_everyone's search, adding to the people already `found`."""
        h, w = image.shape[:2]
        full = fit_region(0, 0, w, h, self.max_side)
        found = _dedupe(found + self._infer(self._main, image, full))
        fill = image.reshape(-1, 3).mean(0).astype(image.dtype)
        for _ in range(rounds):
            if len(found) >= max_people or time.perf_counter() >= deadline:
                break
            masked = image.copy()
            for c in found:  # paint each found person out, a little wider than their landmarks
                x0, y0, x1, y1 = c.person.bbox
                mx, my = 0.1 * (x1 - x0), 0.05 * (y1 - y0)
                masked[max(0, int(y0 - my)):int(y1 + my) + 1, max(0, int(x0 - mx)):int(x1 + mx) + 1] = fill
            new = [c for c in self._infer(self._retry_landmarker(), masked, full)
                   if not _overlaps_any(c, found) and c.person.score >= MIN_RETRY_SCORE]
            if not new and time.perf_counter() < deadline:
                new = [c for c in self._tiles(masked, deadline) if not _overlaps_any(c, found)]
            confirmed = []
            for c in new:
                if time.perf_counter() >= deadline:
                    break
                ok = self._crop_pass(image, c, self._main, CONFIRM_CONTEXT)
                if ok is not None and not _overlaps_any(ok, found + confirmed):
                    confirmed.append(ok)
            if not confirmed:
                break
            found.extend(confirmed)
        return _dedupe(found)

    def detect_around(self, rgb: np.ndarray, boxes: list[tuple[float, float, float, float]], max_people: int = 10,
                      search: bool = False, budget_ms: float = 4000.0) -> DetectionResult:
        """People near where they were (`boxes`, e.g. the previous video frame's), one crop pass each,
        so a person MediaPipe's own detector misses stays found frame after frame; with `search`, the
        whole image is also searched as in detect_everyone for people not yet followed."""
        return self._find_people(rgb, boxes, max_people, 4, budget_ms, search, "follow")

    def _find_people(self, rgb: np.ndarray, boxes: list, max_people: int, rounds: int, budget_ms: float,
                     search: bool, strategy: str) -> DetectionResult:
        """detect_everyone and detect_around: a crop pass around each box, then (when asked, or when
        the boxes gave nobody) the search for everyone else."""
        if self.mode != "image":
            raise DetectorError(f"detect_{'everyone' if strategy == 'everyone' else 'around'} needs an IMAGE-mode detector")
        t0 = time.perf_counter()
        image = check_image(rgb)
        h, w = image.shape[:2]
        with self._lock:
            if self.closed:
                raise DetectorError("PoseDetector is closed")
            self._passes = 0
            found: list[_Candidate] = []
            for box in boxes[:max_people]:
                hit = self._crop_pass(image, box, self._main, FOLLOW_CONTEXT)
                if hit is not None and not _overlaps_any(hit, found):
                    found.append(hit)
            if search or not found:
                found = self._search_everyone(image, found, max_people, rounds, t0 + budget_ms / 1000.0)
            people = _dedupe(found)[:max_people]
            full = fit_region(0, 0, w, h, self.max_side)
            result = self._finish(image, people, full.scale, self._passes > 1, strategy, self._passes)
        result.timing_ms = (time.perf_counter() - t0) * 1000.0
        return result

    def _tiles(self, image: np.ndarray, deadline: float) -> list[_Candidate]:
        """Low-confidence search on overlapping tiles, coarse then fine; each hit is confirmed on
        a crop. Finer levels run only while nothing is confirmed and time is left."""
        h, w = image.shape[:2]
        for fraction in TILE_LEVELS:
            if fraction * min(w, h) < MIN_TILE_SIDE:
                break
            found: list[_Candidate] = []
            for x0, y0, x1, y1 in tile_crops(w, h, fraction):
                if time.perf_counter() >= deadline:
                    break
                region = fit_region(x0, y0, x1, y1, self.max_side, MIN_CROP_SIDE)
                for c in self._infer(self._retry_landmarker(), image, region):
                    # A person cut by a tile edge is seen whole by a neighbouring tile (tiles
                    # overlap), and a partial body gives poor landmarks: keep people inside the tile.
                    if _inside(c.raw_box, (x0, y0, x1, y1), w, h) and not _overlaps_any(c, found):
                        found.append(c)
            # Largest first: the main subject is usually the biggest person, and confirming stops
            # once num_poses people are in.
            found.sort(key=lambda c: -_area(c.person.bbox))
            confirmed: list[_Candidate] = []
            for c in found:
                if len(confirmed) >= self.num_poses or time.perf_counter() >= deadline:
                    break
                # Tile hits at low confidence include wheels and shadows; a real person is also found
                # by the normal-confidence detector on a crop framed around them, a false one rarely.
                ok = self._crop_pass(image, c, self._main, CONFIRM_CONTEXT)
                if ok is not None and not _overlaps_any(ok, confirmed):
                    confirmed.append(ok)
            if confirmed or time.perf_counter() >= deadline:
                return confirmed
        return []

    def _crop_pass(self, image: np.ndarray, cand: _Candidate | tuple[float, float, float, float], landmarker: Any,
                   context: float) -> _Candidate | None:
        """Re-run on a square crop around `cand` (a candidate or a box); the hit that overlaps it
        best, if any."""
        h, w = image.shape[:2]
        box = cand.person.bbox if isinstance(cand, _Candidate) else tuple(float(v) for v in cand)
        bx0, by0, bx1, by1 = box
        side = max(context * max(bx1 - bx0, by1 - by0), 32.0)
        x0, y0, x1, y1 = square_crop((bx0 + bx1) / 2, (by0 + by1) / 2, side, w, h)
        region = fit_region(x0, y0, x1, y1, self.max_side, MIN_CROP_SIDE)
        best, best_iou = None, MATCH_IOU
        for c in self._infer(landmarker, image, region):
            iou = box_iou(c.person.bbox, box)
            if iou > best_iou:
                best, best_iou = c, iou
        if best is not None:
            best.from_crop = True
        return best

    def _infer(self, landmarker: Any, image: np.ndarray, region: Region,
               timestamp_ms: int | None = None) -> list[_Candidate]:
        import mediapipe as mp

        crop = region.extract(image)
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=crop)
        if timestamp_ms is None:
            res = landmarker.detect(mp_image)
        else:
            res = landmarker.detect_for_video(mp_image, timestamp_ms)
        self._passes += 1
        h, w = image.shape[:2]
        masks = res.segmentation_masks or []
        out = []
        for i, lms in enumerate(res.pose_landmarks):
            arr = np.array([[p.x, p.y, p.z, p.visibility or 0.0, p.presence or 0.0] for p in lms],
                           np.float32)
            world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks[i]], np.float32)
            xs, ys = region.to_original(arr[:, 0].astype(np.float64), arr[:, 1].astype(np.float64))
            px = np.stack([xs, ys], axis=1).astype(np.float32)
            raw_box = _landmark_box(px, arr[:, 3], arr[:, 4])
            person = DetectedPerson(
                landmarks_px=px,
                landmarks_z=(arr[:, 2] * region.width).astype(np.float32),
                visibility=arr[:, 3].copy(),
                presence=arr[:, 4].copy(),
                world_landmarks=world,
                bbox=_clip_box(raw_box, w, h),
                score=float(arr[list(COCO17_FROM_MP33), 4].mean()),
                image=image,
            )
            mask = None
            if i < len(masks):
                # Copy: the view belongs to a MediaPipe image freed with the result.
                mask = np.array(masks[i].numpy_view(), np.float32).reshape(crop.shape[:2])
            out.append(_Candidate(person, region, raw_box, mask))
        return out

    def _finish(self, image: np.ndarray, cands: list[_Candidate], scale: float, retried: bool,
                strategy: str, passes: int) -> DetectionResult:
        h, w = image.shape[:2]
        people = []
        for c in sorted(cands, key=lambda c: -_area(c.person.bbox)):
            if c.mask_small is not None:
                c.person.mask = _paste_mask(c.mask_small, c.region, w, h)
            people.append(c.person)
        return DetectionResult(image_width=w, image_height=h, people=people, timing_ms=0.0,
                               scale_used=float(scale), retried=retried, strategy=strategy,
                               passes=passes)


# -- helpers ---------------------------------------------------------------------------------------

def _landmark_box(px: np.ndarray, visibility: np.ndarray, presence: np.ndarray
                  ) -> tuple[float, float, float, float]:
    sel = (visibility > VISIBLE) & (presence > VISIBLE)
    pts = px[sel] if sel.sum() >= 3 else px
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    mx = BOX_MARGIN * max(x1 - x0, 1.0)
    my = BOX_MARGIN * max(y1 - y0, 1.0)
    return float(x0 - mx), float(y0 - my), float(x1 + mx), float(y1 + my)


def _clip_box(box: tuple[float, float, float, float], w: int, h: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    x0, x1 = min(max(x0, 0.0), w), min(max(x1, 0.0), w)
    y0, y1 = min(max(y0, 0.0), h), min(max(y1, 0.0), h)
    return x0, y0, x1, y1


def _area(b: tuple[float, float, float, float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _overlap_small(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min(_area(a), _area(b))
    return ix * iy / small if small > 0 else 0.0


def _overlaps_any(c: _Candidate, others: list[_Candidate]) -> bool:
    return any(_overlap_small(c.person.bbox, o.person.bbox) > SAME_PERSON_OVERLAP for o in others)


def _dedupe(cands: list[_Candidate]) -> list[_Candidate]:
    # Earlier candidates come from the more reliable passes (full image before tiles), so they win.
    kept: list[_Candidate] = []
    for c in cands:
        if not _overlaps_any(c, kept):
            kept.append(c)
    return kept


def _inside(box: tuple[float, float, float, float], tile: tuple[int, int, int, int], w: int, h: int) -> bool:
    """Box within the tile, except along tile edges that are also image edges."""
    tol = 0.02 * max(tile[2] - tile[0], tile[3] - tile[1])
    x0, y0, x1, y1 = box
    return ((x0 >= tile[0] - tol or tile[0] == 0) and (y0 >= tile[1] - tol or tile[1] == 0)
            and (x1 <= tile[2] + tol or tile[2] == w) and (y1 <= tile[3] + tol or tile[3] == h))


def _paste_mask(mask_small: np.ndarray, region: Region, w: int, h: int) -> np.ndarray:
    mask = cv2.resize(mask_small, (region.width, region.height), interpolation=cv2.INTER_LINEAR)
    if (region.x0, region.y0, region.width, region.height) == (0, 0, w, h):
        return mask.astype(np.float32, copy=False)
    full = np.zeros((h, w), np.float32)
    full[region.y0:region.y1, region.x0:region.x1] = mask
    return full
