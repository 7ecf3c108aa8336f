"""A quiet console (issue 10): MediaPipe's native log lines are off unless --verbose / GENHMR_VERBOSE=1,
while the app's own messages and errors still reach stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from genhmr_app.detection.native_log import NATIVE_LINE

REPO = Path(__file__).resolve().parents[1]


def _infer(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), "infer", *args], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, **env), cwd=REPO)


def test_native_patterns():
    assert NATIVE_LINE.match(b"WARNING: [model_load.cc:402] Sparsity tensors may not yet be fully supported.")
    assert NATIVE_LINE.match(b"INFO: [environment.cc:36] Creating LiteRT environment with options")
    assert NATIVE_LINE.match(b"W0000 00:00:1796057660.291576   18600 inference_runner_litert.cc:1433] Input tensor")
    assert not NATIVE_LINE.match(b"error: cannot load the models on this machine: ...")
    assert not NATIVE_LINE.match(b"WARNING genhmr_app.pipeline: something of ours")


def test_infer_is_quiet_but_keeps_its_own_messages(photo_path, tmp_path):
    quiet = _infer([str(photo_path), str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "a"),
                    "--iterations", "1", "--refine-steps", "0"])
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "Sparsity tensors" not in quiet.stderr and "LiteRT" not in quiet.stderr
    assert "missing.jpg: not found" in quiet.stderr  # ours, printed early, still arrives
    loud = _infer([str(photo_path), "--out", str(tmp_path / "b"), "--iterations", "1", "--refine-steps", "0"],
                  GENHMR_VERBOSE="1")
    assert loud.returncode == 0 and "Sparsity tensors" in loud.stderr
