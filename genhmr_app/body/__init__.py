"""Body models: the embedded Anny-derived SMPL-format model or the user's SMPL, behind one API.

`build_anny` (the builder) needs the dev-only `anny` package; nothing else here does, and nothing
here imports Qt.
"""

from genhmr_app.body.model import (
    BodyModel,
    BodyModelError,
    BodyModelInfo,
    BodyOutput,
    embedded_model_path,
    find_body_model_file,
    load_body_model,
    load_body_model_with_fallback,
)

__all__ = [
    "BodyModel",
    "BodyModelError",
    "BodyModelInfo",
    "BodyOutput",
    "embedded_model_path",
    "find_body_model_file",
    "load_body_model",
    "load_body_model_with_fallback",
]
