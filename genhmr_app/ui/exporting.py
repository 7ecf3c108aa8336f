"""Saving what is on screen: the JSON contract, SMPL parameters, the mesh and a viewport picture.
Every file goes through safe_write, so an existing file is kept as a numbered backup."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from genhmr_app.export.contract import reconstruction_to_dict, write_json, write_smpl_npz
from genhmr_app.export.mesh import write_mesh
from genhmr_app.export.safe_write import safe_write
from genhmr_app.pipeline.session import FrameResult, VideoRef


class NothingToExport(Exception):
    """There is no 3D result on screen yet."""


def result_name(result: FrameResult) -> str:
    if isinstance(result.ref, VideoRef):
        return f"{Path(result.source_name).stem}_frame{result.frame.index:05d}"
    return Path(result.source_name).stem.replace(" ", "_")


def _person(result: FrameResult | None, person: int = 0):
    if result is None or result.reconstruction is None or not result.reconstruction.people:
        raise NothingToExport("Nothing to export yet: there is no 3D body on screen.")
    person = min(person, len(result.reconstruction.people) - 1)
    return result.reconstruction.people[person], result.views[person]


def save_json(result: FrameResult | None, path: Path) -> Path | None:
    _person(result)
    image = result.source_name if not isinstance(result.ref, VideoRef) else f"{result.source_name}#{result.frame.index}"
    return write_json(reconstruction_to_dict(result.reconstruction, image), path)


def save_smpl(result: FrameResult | None, rank: int, path: Path, person: int = 0) -> Path | None:
    """The shown person's hypothesis `rank`."""
    person, _ = _person(result, person)
    # write_smpl_npz writes `.best`; hand it the hypothesis the user is looking at.
    return write_smpl_npz(SimpleNamespace(best=person.hypotheses[rank]), path)


def save_mesh(result: FrameResult | None, rank: int, faces: np.ndarray, path: Path, person: int = 0) -> Path | None:
    _, view = _person(result, person)
    return write_mesh(view.vertices[rank], faces, path)


def save_png(rgb: np.ndarray | None, path: Path) -> Path | None:
    if rgb is None:
        raise NothingToExport("The 3D view is not available, so there is no picture to save.")
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8))
    return safe_write(path, lambda tmp: picture.save(tmp, format="PNG"))
