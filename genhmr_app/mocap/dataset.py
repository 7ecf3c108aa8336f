"""The retargeted pose cache: every shared mocap clip as SMPL-24 rotations at ~10 fps, with splits.

Build once (`main.py build-pose-cache`, or `load_pose_dataset`), then load the npz in milliseconds.
The cache key covers the source files (path, size, mtime), the rest skeleton and CODE_VERSION, so a
new body model or a retargeting change rebuilds it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import paths
from .asf_amc import parse_asf
from .cleaning import implausible_frames, subsample_indices
from .clip import MocapClip, MocapFormatError
from .readers import drop_glitches, read_bandai_bvh, read_cmu_amc
from .retarget import Calibration, stand_in_joints, calibrate, detect_axes, neutral_costs, retarget_clip
from .rotations import matrix_to_axis_angle
from .skeleton_maps import map_for_joint_names
from .smpl_skeleton import rest_joints_from_npz

log = logging.getLogger(__name__)

CODE_VERSION = "mocap-smpl24-v2"
TARGET_FPS = 10.0
SPLIT_SEED = "genhmr-mocap-split-v1"
SPLIT_FRACTIONS = (("train", 0.8), ("val", 0.1), ("test", 0.1))
# Held out entirely, to measure how a prior reaches contents it never saw: the CMU playground subject
# (climb, sit, jump, step over) and Bandai's dance (only dance-short has a BVH in the shared copy).
HELDOUT_CMU_SUBJECTS = ("01",)
HELDOUT_BANDAI_CONTENTS = ("dance-short", "dance-long")
SPLITS = ("train", "val", "test", "heldout")
DEFAULT_BODY_MODEL = "body/anny_smpl_neutral.npz"
N_REFERENCES = 15  # neutral frames (one per clip) voting on an axis-aligned rig's calibration


@dataclass
class ClipSource:
    clip_id: str  # "<dataset>/<stem>"
    dataset: str  # bandai-1, bandai-2, cmu
    files: tuple[Path, ...]  # data files (for the cache key); first is the motion file
    group: str  # clips of one group go to the same split (Bandai takes of one content+style)


@dataclass
class PoseSplit:
    global_orient: np.ndarray  # (N, 3) axis-angle, float32
    body_pose: np.ndarray  # (N, 23, 3) axis-angle, float32
    transl: np.ndarray  # (N, 3) metres, float32
    clip: np.ndarray  # (N,) int32 index into PoseDataset.clips
    frame: np.ndarray  # (N,) int32 frame number in the source file

    def __len__(self) -> int:
        return int(self.body_pose.shape[0])


@dataclass
class ClipInfo:
    clip_id: str
    dataset: str
    content: str
    style: str
    split: str
    fps: float  # source frame rate (frame numbers are at this rate)


@dataclass
class PoseDataset:
    splits: dict[str, PoseSplit]
    clips: list[ClipInfo]
    rest_joints: np.ndarray
    cache_path: Path
    info: dict = field(default_factory=dict)

    def summary(self) -> str:
        parts = [f"{s}: {len(self.splits[s])} frames / {sum(c.split == s for c in self.clips)} clips" for s in SPLITS]
        return "; ".join(parts)


# --- discovery ------------------------------------------------------------------------------------


def mocap_root() -> Path:
    return paths.shared_data_dir() / "mocap"


def discover_clips(root: Path) -> list[ClipSource]:
    out: list[ClipSource] = []
    for ds in ("bandai-1", "bandai-2"):
        for bvh in sorted((root / ds).glob("*.bvh")):
            parts = bvh.stem.split("_")
            group = "_".join(parts[:3]) if len(parts) >= 4 else bvh.stem
            files = [bvh] + [p for p in (bvh.with_suffix(".json"),) if p.is_file()]
            out.append(ClipSource(f"{ds}/{bvh.stem}", ds, tuple(files), f"{ds}/{group}"))
    cmu = root / "cmu"
    for subj_dir in sorted(p for p in cmu.glob("*") if p.is_dir() and p.name.isdigit()):
        asf = subj_dir / f"{subj_dir.name}.asf"
        if not asf.is_file():
            log.warning("mocap: skipping %s: no %s beside the AMC files", subj_dir, asf.name)
            continue
        for amc in sorted(subj_dir.glob("*.amc")):
            out.append(ClipSource(f"cmu/{amc.stem}", "cmu", (amc, asf), f"cmu/{amc.stem}"))
    return out


def split_for(src: ClipSource, content: str) -> str:
    if src.dataset == "cmu" and src.clip_id.split("/")[1].split("_")[0] in HELDOUT_CMU_SUBJECTS:
        return "heldout"
    if src.dataset.startswith("bandai") and content in HELDOUT_BANDAI_CONTENTS:
        return "heldout"
    # Hash of the group, not a shuffled list: a clip keeps its split when others are added/removed.
    u = int(hashlib.sha1(f"{SPLIT_SEED}:{src.group}".encode()).hexdigest()[:8], 16) / 2**32
    acc = 0.0
    for name, frac in SPLIT_FRACTIONS:
        acc += frac
        if u < acc:
            return name
    return SPLIT_FRACTIONS[-1][0]


def cache_key(sources: Sequence[ClipSource], root: Path, rest_joints: np.ndarray) -> str:
    """sha1 of the source files (relative path, size, mtime), the rest skeleton and CODE_VERSION.

    The rest skeleton enters rounded to 1 mm: the same body model's joints computed in numpy or torch
    differ in the 7th decimal, and must not force a rebuild. `_cache_matches` then also checks the stored
    rest joints to 10 µm, so a rounding boundary at worst costs a rebuild, never a wrong cache.
    """
    h = hashlib.sha1()
    files = sorted({f for s in sources for f in s.files} | set(root.glob("bandai-*/*_label.txt")))
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(np.round(np.asarray(rest_joints, dtype=np.float64), 3).tobytes())
    h.update(CODE_VERSION.encode())
    return h.hexdigest()[:16]


def cache_path_for(key: str, cache_dir: Path | None = None) -> Path:
    base = cache_dir if cache_dir is not None else paths.user_cache_dir() / "mocap"
    return base / f"smpl24_{key}.npz"


# What reading a damaged cache file (a crash or a second writer mid-write) raises: such a cache is rebuilt.
_DAMAGED_CACHE = (OSError, KeyError, ValueError, zipfile.BadZipFile, zlib.error)


def _cache_matches(path: Path, rest_joints: np.ndarray) -> bool:
    try:
        with np.load(path, allow_pickle=False) as d:
            return bool(np.allclose(d["rest_joints"], rest_joints, rtol=0.0, atol=1e-5))
    except _DAMAGED_CACHE:
        return False


# --- building -------------------------------------------------------------------------------------


def _read(src: ClipSource, asf_cache: dict) -> MocapClip:
    """Read one clip; raises MocapFormatError for a file that cannot be used."""
    if src.dataset == "cmu":
        amc, asf = src.files
        if asf not in asf_cache:
            asf_cache[asf] = parse_asf(asf)
        clip, _ = drop_glitches(read_cmu_amc(asf_cache[asf], amc))
        return clip
    return read_bandai_bvh(src.files[0])


def _family(src: ClipSource) -> str:
    """Clips that share a skeleton convention and so one calibration (a Bandai dataset, a CMU subject)."""
    return src.dataset if src.dataset != "cmu" else f"cmu/{src.files[1].parent.name}"


def _calibrate_family(sources: Sequence[ClipSource], rest_joints: np.ndarray, asf_cache: dict) -> Calibration | None:
    """One calibration per skeleton family, so all its clips share one twist convention.

    Reference pose: the ASF rest T-pose (CMU), or the most neutral frame over the family's
    'normal'-style clips (Bandai). Knee/elbow hinge axes are measured over those clips (every 4th frame)
    to see enough bends.
    """
    if sources[0].dataset == "cmu":
        candidates = list(sources)
    else:
        candidates = [s for s in sources if "_normal_" in s.clip_id] or list(sources)
    refs: list[tuple[float, MocapClip, int]] = []
    hinge: list[MocapClip] = []
    for src in candidates:
        try:
            clip = _read(src, asf_cache)
        except MocapFormatError:
            continue  # reported when the clip itself is processed
        smap = map_for_joint_names(clip.joint_names)
        q, _ = stand_in_joints(clip, smap, clip.positions)
        cost = neutral_costs(q @ detect_axes(q).T)
        f = int(np.argmin(cost))
        refs.append((float(cost[f]), clip.take(np.array([f])), 0))
        hinge.append(clip.take(np.arange(0, clip.num_frames, 4)))
    if not refs:
        return None
    refs.sort(key=lambda r: r[0])
    _, ref, frame = refs[0]
    smap = map_for_joint_names(ref.joint_names)
    return calibrate(
        ref,
        rest_joints,
        frame=None if smap.rest_is_tpose else frame,
        skeleton_map=smap,
        hinge_clips=hinge,
        extra_references=[(c, f) for _, c, f in refs[1:N_REFERENCES]],
    )


def build_pose_cache(
    rest_joints: np.ndarray,
    root: Path | None = None,
    out_path: Path | None = None,
    progress: bool = True,
) -> Path:
    from tqdm import tqdm

    t0 = time.time()
    root = root or mocap_root()
    sources = discover_clips(root)
    if not sources:
        raise FileNotFoundError(f"no mocap clips under {root}")
    key = cache_key(sources, root, rest_joints)
    out_path = out_path or cache_path_for(key)
    asf_cache: dict = {}
    skipped: list[tuple[str, str]] = []
    families: dict[str, list[ClipSource]] = {}
    for s in sources:
        families.setdefault(_family(s), []).append(s)

    go, bp, tr, clip_idx, frame_idx = [], [], [], [], []
    clips: list[ClipInfo] = []
    calibrations = {}
    n_implausible = 0
    with tqdm(total=len(sources), desc="retarget mocap", unit="clip", disable=not progress) as bar:
        for fam, fam_sources in families.items():
            cal = _calibrate_family(fam_sources, rest_joints, asf_cache)
            calibrations[fam] = cal.reference if cal else None
            for src in fam_sources:
                bar.update(1)
                try:
                    clip = _read(src, asf_cache)
                    ret = retarget_clip(clip, rest_joints, calibration=cal)
                except MocapFormatError as exc:
                    log.warning("mocap: skipping %s: %s", src.clip_id, exc)
                    skipped.append((src.clip_id, str(exc)))
                    continue
                bad, why = implausible_frames(ret.body_pose, rest_joints)
                if bad.any():
                    log.info("mocap: %s: %d implausible frame(s) left out %s", src.clip_id, int(bad.sum()), why)
                    n_implausible += int(bad.sum())
                keep = subsample_indices(ret.body_pose, ret.fps, TARGET_FPS, usable=~bad)
                if len(keep) == 0:
                    log.warning("mocap: skipping %s: no plausible frames", src.clip_id)
                    skipped.append((src.clip_id, "no plausible frames"))
                    continue
                content = clip.label.get("content", "")
                clips.append(ClipInfo(src.clip_id, src.dataset, content, clip.label.get("style", ""),
                                      split_for(src, content), float(clip.fps)))  # fmt: skip
                go.append(matrix_to_axis_angle(ret.global_orient[keep]).astype(np.float32))
                bp.append(matrix_to_axis_angle(ret.body_pose[keep]).astype(np.float32))
                tr.append(ret.transl[keep].astype(np.float32))
                clip_idx.append(np.full(len(keep), len(clips) - 1, dtype=np.int32))
                frame_idx.append(clip.frame_numbers()[keep].astype(np.int32))
    if not clips:
        raise MocapFormatError(f"no readable mocap clips under {root}")
    build_s = time.time() - t0
    info = {
        "code_version": CODE_VERSION,
        "key": key,
        "build_seconds": round(build_s, 1),
        "skipped": skipped,
        "implausible_source_frames": n_implausible,
        "calibrations": calibrations,
        "target_fps": TARGET_FPS,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "root": str(root),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # A name of this process's own: two processes building the same cache at once (the workers of a
    # data generator) must not write into one temporary file.
    tmp = out_path.with_name(f"{out_path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(
        tmp,
        global_orient=np.concatenate(go),
        body_pose=np.concatenate(bp),
        transl=np.concatenate(tr),
        clip=np.concatenate(clip_idx),
        frame=np.concatenate(frame_idx),
        clip_id=np.array([c.clip_id for c in clips]),
        clip_dataset=np.array([c.dataset for c in clips]),
        clip_content=np.array([c.content for c in clips]),
        clip_style=np.array([c.style for c in clips]),
        clip_split=np.array([c.split for c in clips]),
        clip_fps=np.array([c.fps for c in clips]),
        rest_joints=np.asarray(rest_joints, dtype=np.float64),
        info=np.array(json.dumps(info)),
    )
    tmp.replace(out_path)
    log.info("mocap: wrote %s in %.1f s (%d clips, %d skipped)", out_path, build_s, len(clips), len(skipped))
    return out_path


def read_pose_cache(path: Path) -> PoseDataset:
    with np.load(path, allow_pickle=False) as d:
        clip = d["clip"]
        clips = [
            ClipInfo(str(i), str(ds), str(c), str(s), str(sp), float(f))
            for i, ds, c, s, sp, f in zip(d["clip_id"], d["clip_dataset"], d["clip_content"], d["clip_style"],
                                          d["clip_split"], d["clip_fps"])
        ]  # fmt: skip
        split_of_frame = np.array([c.split for c in clips])[clip] if len(clips) else np.array([], dtype=str)
        splits = {}
        for s in SPLITS:
            m = split_of_frame == s
            splits[s] = PoseSplit(d["global_orient"][m], d["body_pose"][m], d["transl"][m], clip[m], d["frame"][m])
        return PoseDataset(splits, clips, d["rest_joints"], Path(path), json.loads(str(d["info"])))


def load_pose_dataset(
    rest_joints: np.ndarray,
    rebuild: bool = False,
    root: Path | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> PoseDataset:
    """The pose dataset for this rest skeleton, from the cache or built (then cached) from the mocap."""
    root = root or mocap_root()
    sources = discover_clips(root) if root.is_dir() else []
    if not sources:
        # No mocap here (e.g. a machine without the shared data): any cache built for this skeleton
        # by this code version will do; take the newest.
        base = cache_path_for("x", cache_dir).parent
        found = sorted(base.glob("smpl24_*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in found:
            if _cache_matches(p, rest_joints) and read_pose_cache(p).info.get("code_version") == CODE_VERSION:
                log.info("mocap: no clips under %s; using cache %s", root, p)
                return read_pose_cache(p)
        raise FileNotFoundError(f"no mocap clips under {root} and no pose cache for this skeleton (set GENHMR_SHARED_DIR)")
    path = cache_path_for(cache_key(sources, root, rest_joints), cache_dir)
    if rebuild or not path.is_file() or not _cache_matches(path, rest_joints):
        build_pose_cache(rest_joints, root=root, out_path=path, progress=progress)
    try:
        return read_pose_cache(path)
    except _DAMAGED_CACHE as exc:  # damaged after its check: rebuilt once
        log.warning("mocap: the pose cache %s is damaged (%s); building it again", path, exc)
        build_pose_cache(rest_joints, root=root, out_path=path, progress=progress)
        return read_pose_cache(path)


# --- CLI ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="build-pose-cache", description=__doc__.splitlines()[0])
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if a matching cache exists")
    ap.add_argument("--rest-joints-from", type=Path, default=None, metavar="NPZ",
                    help=f"body-model npz (J_regressor, v_template) or joints npz; default weights/{DEFAULT_BODY_MODEL}")
    ap.add_argument("--mocap-dir", type=Path, default=None, help="default: <shared data>/mocap")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    src = args.rest_joints_from or (paths.WEIGHTS_DIR / DEFAULT_BODY_MODEL)
    if not src.is_file():
        print(f"build-pose-cache: no rest skeleton: {src} does not exist (pass --rest-joints-from)", file=sys.stderr)
        return 2
    rest = rest_joints_from_npz(src)
    t0 = time.time()
    ds = load_pose_dataset(rest, rebuild=args.rebuild, root=args.mocap_dir)
    print(f"pose cache: {ds.cache_path}")
    print(f"  {ds.summary()}")
    print(f"  build time {ds.info.get('build_seconds')} s (this run {time.time() - t0:.1f} s); "
          f"skipped {len(ds.info.get('skipped', []))} file(s)")  # fmt: skip
    for cid, why in ds.info.get("skipped", []):
        print(f"    skipped {cid}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
