"""weights/ is committed and shipped: the brief caps it at 60 MB in all."""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
BUDGET_BYTES = 60_000_000


def test_the_committed_weights_stay_within_60_mb():
    files = [p for p in WEIGHTS.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    biggest = sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:3]
    assert files and total <= BUDGET_BYTES, (
        f"weights/ holds {total / 1e6:.1f} MB (budget 60 MB); largest: "
        + ", ".join(f"{p.relative_to(WEIGHTS)} {p.stat().st_size / 1e6:.1f} MB" for p in biggest))
