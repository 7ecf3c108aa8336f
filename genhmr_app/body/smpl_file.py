"""Reading SMPL-format model files without chumpy, and checking that they are what they claim.

The official SMPL pickles were written by Python 2 with chumpy objects inside (shapedirs, sometimes
v_template) and a scipy.sparse J_regressor. chumpy does not install on current Python, so the
unpickler below swaps its classes for a stand-in that keeps only the array. It also refuses any
class outside numpy / scipy.sparse / chumpy: a model file is user-supplied data, and an arbitrary
pickle could run code.
"""

from __future__ import annotations

import importlib
import io
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genhmr_app.body.keypoints import NUM_JOINTS

REQUIRED_KEYS = ("v_template", "f", "weights", "J_regressor", "kintree_table", "shapedirs")
NPZ_FORMAT = "genhmr-smpl-npz/1"


class BodyModelError(Exception):
    """A body model file is missing, unreadable or not an SMPL-format model. The message is meant
    for the user: it names the file and says what is wrong."""


class _ChumpyStandIn:
    """Takes the place of chumpy.Ch (and its subclasses) while unpickling; keeps the value array."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _ChumpyStandIn:
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        self.value: np.ndarray | None = None
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = state[0] or state[1]
        if isinstance(state, Mapping):
            # A plain Ch keeps its value under 'x'; derived nodes (rare in model files) may not.
            if "x" in state:
                self.value = np.asarray(_plain(state["x"]))
            else:
                arrays = [v for v in state.values() if isinstance(v, np.ndarray)]
                if len(arrays) == 1:
                    self.value = arrays[0]


def _plain(obj: Any) -> Any:
    if isinstance(obj, _ChumpyStandIn):
        return obj.value
    return obj


_ALLOWED_BUILTINS = {"set", "frozenset", "slice", "complex", "object", "list", "dict", "tuple", "bytearray"}


class _SafeSmplUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root == "chumpy":
            return _ChumpyStandIn
        if root == "numpy":
            # numpy 2 renamed numpy.core to numpy._core; old pickles still say numpy.core.
            if module == "numpy.core" or module.startswith("numpy.core."):
                module = "numpy._core" + module[len("numpy.core") :]
            return getattr(importlib.import_module(module), name)
        if root == "scipy" and module.startswith("scipy.sparse"):
            # Old pickles name private modules (scipy.sparse.csc) that newer scipy dropped.
            import scipy.sparse

            if hasattr(scipy.sparse, name):
                return getattr(scipy.sparse, name)
            return getattr(importlib.import_module(module), name)
        if module in ("copyreg", "copy_reg") and name == "_reconstructor":
            import copyreg

            return copyreg._reconstructor
        if module in ("builtins", "__builtin__") and name in _ALLOWED_BUILTINS:
            import builtins

            return getattr(builtins, name)
        if module == "_codecs" and name == "encode":  # protocol-2 pickles of bytes (numpy arrays)
            import _codecs

            return _codecs.encode
        if module == "collections" and name == "OrderedDict":
            from collections import OrderedDict

            return OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _as_dense(value: Any) -> np.ndarray:
    value = _plain(value)
    if hasattr(value, "toarray"):  # scipy.sparse
        value = value.toarray()
    return np.asarray(value)


def read_smpl_pickle(path: Path) -> dict[str, np.ndarray]:
    """The SMPL arrays of a pickle as plain numpy (dense J_regressor), checked for shape."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BodyModelError(f"Body model file not found: {path}") from None
    except OSError as exc:
        raise BodyModelError(f"Cannot read body model file {path}: {exc.strerror or exc}") from exc
    if raw[:8] == b"\x89PNG\r\n\x1a\n" or raw[:3] == b"\xff\xd8\xff":
        raise BodyModelError(f"{path.name} is an image, not an SMPL model file (.pkl). Path: {path}")
    if raw[:2] == b"PK":
        raise BodyModelError(
            f"{path.name} is a zip/npz archive, not an SMPL pickle. Use the SMPL .pkl file (e.g. "
            f"SMPL_NEUTRAL.pkl or basicModel_neutral_lbs_10_207_0_v1.0.0.pkl). Path: {path}"
        )
    try:
        data = _SafeSmplUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        if "refusing to load" in str(exc):
            raise BodyModelError(
                f"{path.name} contains objects that are not part of an SMPL model ({exc}); "
                f"it was not loaded. Path: {path}"
            ) from exc
        raise BodyModelError(f"{path.name} is corrupt or not a pickle file ({exc}). Path: {path}") from exc
    except Exception as exc:  # truncated files raise EOFError, ValueError, IndexError...
        raise BodyModelError(
            f"{path.name} is corrupt or not an SMPL model file ({type(exc).__name__}: {exc}). Path: {path}"
        ) from exc
    if not isinstance(data, Mapping):
        raise BodyModelError(
            f"{path.name} is a pickle but not an SMPL model: it holds a {type(data).__name__}, "
            f"not a dictionary of model arrays. Path: {path}"
        )
    return validate_smpl_arrays(data, path)


def validate_smpl_arrays(data: Mapping[str, Any], path: Path) -> dict[str, np.ndarray]:
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise BodyModelError(
            f"{path.name} is not an SMPL model: missing {', '.join(missing)}. Path: {path}"
        )
    try:
        out = {k: _as_dense(data[k]) for k in REQUIRED_KEYS}
        if "posedirs" in data:
            out["posedirs"] = _as_dense(data["posedirs"])
    except Exception as exc:
        raise BodyModelError(f"{path.name}: cannot read the model arrays ({exc}). Path: {path}") from exc

    def bad(what: str) -> BodyModelError:
        return BodyModelError(f"{path.name} is not a usable SMPL model: {what}. Path: {path}")

    if any(v is None or v.dtype == object for v in out.values()):
        raise bad("some arrays could not be recovered (unsupported chumpy content)")
    v, f, w, jr, kt, sd = (out[k] for k in REQUIRED_KEYS)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) < 4:
        raise bad(f"v_template has shape {v.shape}, expected (V, 3)")
    n = len(v)
    if kt.shape != (2, NUM_JOINTS):
        joints = kt.shape[1] if kt.ndim == 2 else "?"
        hint = " (this looks like SMPL-H or SMPL-X; GenHMR needs the 24-joint SMPL body model)" if joints in (52, 55) else ""
        raise bad(f"kintree_table has shape {kt.shape}, expected (2, {NUM_JOINTS}){hint}")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise bad(f"faces f have shape {f.shape} / type {f.dtype}, expected integer (F, 3)")
    if f.size and (f.min() < 0 or f.max() >= n):
        raise bad("faces refer to vertices that do not exist")
    if w.shape != (n, NUM_JOINTS):
        raise bad(f"weights have shape {w.shape}, expected ({n}, {NUM_JOINTS})")
    if jr.shape != (NUM_JOINTS, n):
        raise bad(f"J_regressor has shape {jr.shape}, expected ({NUM_JOINTS}, {n})")
    if sd.ndim != 3 or sd.shape[:2] != (n, 3) or sd.shape[2] < 1:
        raise bad(f"shapedirs have shape {sd.shape}, expected ({n}, 3, K)")
    if "posedirs" in out and out["posedirs"].shape != (n, 3, (NUM_JOINTS - 1) * 9):
        raise bad(f"posedirs have shape {out['posedirs'].shape}, expected ({n}, 3, 207)")
    for k in ("v_template", "weights", "J_regressor", "shapedirs"):
        if not np.all(np.isfinite(out[k])):
            raise bad(f"{k} contains NaN or infinite values")
    return out


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Arrays of a GenHMR .npz body model (the embedded one), without pickle."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise BodyModelError(f"Body model file not found: {path}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise BodyModelError(f"{path.name} is corrupt or not a GenHMR body model archive ({exc}). Path: {path}") from exc
    fmt = str(data.get("format", ""))
    if fmt != NPZ_FORMAT:
        raise BodyModelError(
            f"{path.name} is not a GenHMR body model (format {fmt or 'unknown'!r}, expected {NPZ_FORMAT!r}). Path: {path}"
        )
    validate_smpl_arrays(data, path)
    return data
