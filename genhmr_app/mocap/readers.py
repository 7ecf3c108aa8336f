"""Dataset-specific readers on top of the BVH and ASF/AMC parsers: units, labels, glitch removal."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .asf_amc import AsfSkeleton, parse_asf, read_asf_amc
from .bvh import read_bvh
from .cleaning import glitch_frames
from .clip import MocapClip, MocapFormatError
from .skeleton_maps import map_for_joint_names

log = logging.getLogger(__name__)

BANDAI_SCALE = 0.01  # centimetres
CMU_SCALE = 0.0254 / 0.45  # the cgspeed BVH keeps the ASF unit, 1/0.45 inch
CMU_FPS = 120.0
CMU_SUBJECT_CONTENT = {"01": "playground", "03": "uneven-terrain-walk", "11": "kick-ball"}

__all__ = [
    "MocapFormatError",
    "read_bandai_bvh",
    "read_cmu_amc",
    "read_cmu_bvh",
    "drop_glitches",
    "bandai_label",
]


def _label_list(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def bandai_label(bvh_path: Path) -> dict:
    """Content and style of a Bandai clip, from the JSON beside it (indices into the folder's
    content_label.txt / style_label.txt), falling back to the file name
    `dataset-N_{content}_{style}_{take}`."""
    parts = bvh_path.stem.split("_")
    label = {"content": parts[1] if len(parts) >= 4 else "", "style": parts[2] if len(parts) >= 4 else "",
             "take": parts[3] if len(parts) >= 4 else ""}  # fmt: skip
    js = bvh_path.with_suffix(".json")
    if js.is_file():
        try:
            d = json.loads(js.read_text())
            contents = _label_list(bvh_path.parent / "content_label.txt")
            styles = _label_list(bvh_path.parent / "style_label.txt")
            if "content" in d and 0 <= int(d["content"]) < len(contents):
                label["content"] = contents[int(d["content"])].split("_", 1)[-1]
            if "style" in d and 0 <= int(d["style"]) < len(styles):
                label["style"] = styles[int(d["style"])].split("_", 1)[-1]
        except (ValueError, json.JSONDecodeError) as exc:
            log.warning("mocap: %s: unreadable label JSON (%s); using the file name", js.name, exc)
    return label


def read_bandai_bvh(path: str | Path) -> MocapClip:
    path = Path(path)
    clip = read_bvh(path, dataset=path.parent.name, scale=BANDAI_SCALE)
    _check_map(clip)
    clip.label = bandai_label(path)
    return clip


def read_cmu_bvh(path: str | Path) -> MocapClip:
    path = Path(path)
    clip = read_bvh(path, dataset="cmu-bvh", scale=CMU_SCALE)
    # cgspeed files start with one reference-pose frame that is not part of the take.
    clip = clip.take(np.arange(1, clip.num_frames))
    _check_map(clip)
    clip.label = {"content": CMU_SUBJECT_CONTENT.get(path.stem.split("_")[0], ""), "style": ""}
    return clip


def read_cmu_amc(asf: str | Path | AsfSkeleton, amc: str | Path) -> MocapClip:
    amc = Path(amc)
    skel = asf if isinstance(asf, AsfSkeleton) else parse_asf(asf)
    clip = read_asf_amc(None, amc, dataset="cmu", fps=CMU_FPS, skeleton=skel)
    _check_map(clip)
    subject = amc.stem.split("_")[0]
    clip.label = {"content": CMU_SUBJECT_CONTENT.get(subject, ""), "style": "", "subject": subject}
    return clip


def _check_map(clip: MocapClip) -> None:
    try:
        map_for_joint_names(clip.joint_names)
    except KeyError as exc:
        raise MocapFormatError(f"{clip.name}: unknown skeleton ({exc})") from exc


def drop_glitches(clip: MocapClip) -> tuple[MocapClip, int]:
    """The clip without glitch frames (judged on the joints that stand in for SMPL's), and how many."""
    smap = map_for_joint_names(clip.joint_names)
    idx = sorted({clip.index(n) for js in smap.joints for n, _ in js.pos})
    bad = glitch_frames(clip.positions[:, idx], clip.fps)
    n_bad = int(bad.sum())
    if n_bad:
        log.info("mocap: %s: dropping %d glitch frame(s)", clip.name, n_bad)
        clip = clip.take(np.nonzero(~bad)[0])
    return clip, n_bad
