"""Body model layer: the embedded Anny-SMPL model, the SMPL drop-in path and its error handling."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.spatial import cKDTree

from genhmr_app import paths
from genhmr_app.body import (
    BodyModelError,
    embedded_model_path,
    find_body_model_file,
    load_body_model,
    load_body_model_with_fallback,
)
from genhmr_app.body.keypoints import COCO17_NAMES, MEDIAPIPE33_NAMES, SMPL_JOINT_NAMES, SMPL_MIRROR, SMPL_PARENTS, J

EMBEDDED = embedded_model_path()
needs_embedded = pytest.mark.skipif(
    not EMBEDDED.is_file(), reason=f"{EMBEDDED} missing: run `python main.py build-body-model`"
)


@pytest.fixture(scope="module")
def body():
    if not EMBEDDED.is_file():
        pytest.skip(f"{EMBEDDED} missing: run `python main.py build-body-model`")
    return load_body_model(EMBEDDED)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Search paths that see only what a test puts there (plus the real embedded model)."""
    weights = tmp_path / "weights"
    (weights / "body").mkdir(parents=True)
    if EMBEDDED.is_file():
        (weights / "body" / EMBEDDED.name).symlink_to(EMBEDDED)
    user = tmp_path / "user"
    (user / "models").mkdir(parents=True)
    monkeypatch.setattr(paths, "WEIGHTS_DIR", weights)
    monkeypatch.setattr(paths, "user_data_dir", lambda: user)
    monkeypatch.delenv("GENHMR_SMPL_PATH", raising=False)
    return types.SimpleNamespace(weights=weights, user_models=user / "models", tmp=tmp_path)


def _rest(body, betas=None):
    with torch.no_grad():
        return body(torch.zeros(1, 3), torch.zeros(1, 69), betas=betas)


def winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Generalised winding number (van Oosterom-Strackee solid angles): ~1 inside a closed mesh."""
    tri = vertices[faces][None] - points[:, None, None, :]  # (P, F, 3, 3)
    a, b, c = tri[:, :, 0], tri[:, :, 1], tri[:, :, 2]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    den = la * lb * lc + (a * b).sum(-1) * lc + (b * c).sum(-1) * la + (c * a).sum(-1) * lb
    return (2 * np.arctan2(det, den)).sum(1) / (4 * np.pi)


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(abs(np.einsum("fi,fi->f", a, np.cross(b, c)).sum()) / 6)


# -- the embedded model ----------------------------------------------------------------------


def test_output_shapes_and_info(body):
    b = 4
    with torch.no_grad():
        out = body(torch.zeros(b, 3), torch.zeros(b, 69), betas=torch.zeros(b, 10), transl=torch.zeros(b, 3))
    v = body.info.num_vertices
    assert out.vertices.shape == (b, v, 3)
    assert out.joints.shape == (b, 24, 3)
    assert out.keypoints_coco17.shape == (b, 17, 3)
    assert out.keypoints_mediapipe33.shape == (b, 33, 3)
    assert body.faces.ndim == 2 and body.faces.shape[1] == 3 and body.faces.max() < v
    assert tuple(body.parents) == SMPL_PARENTS
    assert body.num_betas == 10 and body.device.type == "cpu"
    assert body.info.kind == "embedded" and body.info.num_vertices == 13718
    assert "CC0" in body.info.licence and body.info.path == EMBEDDED


def test_rest_pose_is_smpl_t_pose(body):
    j = _rest(body).joints[0].numpy()
    assert np.linalg.norm(j[J["pelvis"]]) < 0.01  # pelvis at the origin
    assert j[J["head"], 1] > j[J["neck"], 1] > j[J["pelvis"], 1] > j[J["l_knee"], 1] > j[J["l_ankle"], 1]  # Y up
    assert j[J["l_shoulder"], 0] > 0.1 and j[J["l_hip"], 0] > 0.05  # the body's left at +X
    assert j[J["l_foot"], 2] > j[J["l_ankle"], 2] + 0.05  # toes point +Z: facing +Z
    # Arms straight along +-X: shoulder, elbow, wrist and hand on one horizontal line.
    for side, sign in (("l", 1), ("r", -1)):
        chain = j[[J[f"{side}_{n}"] for n in ("shoulder", "elbow", "wrist")]]
        assert np.all(np.abs(chain[:, 1:] - chain[0, 1:]) < 0.002)
        assert np.all(np.diff(sign * chain[:, 0]) > 0.15)
    v = _rest(body).vertices[0].numpy()
    assert 1.55 < np.ptp(v[:, 1]) < 1.85  # an adult height in metres


def test_rest_pose_symmetric(body):
    out = _rest(body)
    v, j = out.vertices[0].numpy(), out.joints[0].numpy()
    mirrored = v * [-1, 1, 1]
    dist, _ = cKDTree(v).query(mirrored)
    assert dist.max() < 1e-3, f"mirror error {dist.max() * 1000:.2f} mm"
    assert np.abs(j[list(SMPL_MIRROR)] * [-1, 1, 1] - j).max() < 1e-3
    for kp, names in ((out.keypoints_coco17[0].numpy(), COCO17_NAMES), (out.keypoints_mediapipe33[0].numpy(), MEDIAPIPE33_NAMES)):
        for i, n in enumerate(names):
            if n.startswith("l_"):
                mirror = names.index("r_" + n[2:])
                assert kp[i, 0] > 0.01, n
                assert np.abs(kp[mirror] * [-1, 1, 1] - kp[i]).max() < 2e-3, n


def test_joints_inside_mesh(body):
    out = _rest(body)
    w = winding_numbers(out.joints[0].numpy().astype(np.float64), out.vertices[0].numpy().astype(np.float64), body.faces)
    outside = [SMPL_JOINT_NAMES[i] for i in np.flatnonzero(np.abs(w) < 0.5)]
    assert not outside, f"joints outside the mesh: {outside} (winding {w.round(2)})"


def test_bending_left_elbow_moves_only_left_forearm(body):
    pose = torch.zeros(1, 69)
    pose[0, (J["l_elbow"] - 1) * 3 : J["l_elbow"] * 3] = torch.tensor([0.0, -1.4, 0.0])  # forearm forward
    with torch.no_grad():
        bent = body(torch.zeros(1, 3), pose)
    rest = _rest(body)
    move = (bent.vertices - rest.vertices)[0].norm(dim=-1).numpy()
    w = body.smpl.lbs_weights.numpy()
    forearm = w[:, [J["l_elbow"], J["l_wrist"], J["l_hand"]]].sum(1)
    assert move[forearm < 1e-6].max() < 1e-3  # everything not skinned to the forearm stays put
    moved = move > 1e-3
    assert np.all(np.isin(w[moved].argmax(1), [J["l_shoulder"], J["l_elbow"], J["l_wrist"], J["l_hand"]]))
    assert np.all(rest.vertices[0, moved, 0].numpy() > 0.15)  # left arm only
    dominated = np.isin(w.argmax(1), [J["l_elbow"], J["l_wrist"], J["l_hand"]])
    assert np.median(move[dominated]) > 0.05
    jmove = (bent.joints - rest.joints)[0].norm(dim=-1).numpy()
    assert set(np.flatnonzero(jmove > 1e-4)) == {J["l_wrist"], J["l_hand"]}
    # The forearm now points forward (+Z).
    fore = bent.joints[0, J["l_wrist"]] - bent.joints[0, J["l_elbow"]]
    assert fore[2] > 0.8 * fore.norm()


def test_axis_angle_and_rotation_matrices_agree(body):
    from smplx.lbs import batch_rodrigues

    g = torch.Generator().manual_seed(0)
    go, bp = torch.randn(2, 3, generator=g) * 0.5, torch.randn(2, 69, generator=g) * 0.3
    betas = torch.randn(2, 10, generator=g)
    with torch.no_grad():
        a = body(go, bp, betas=betas, transl=torch.tensor([0.1, 0.2, 0.3]))
        r = body(batch_rodrigues(go).reshape(2, 1, 3, 3), batch_rodrigues(bp.reshape(-1, 3)).reshape(2, 23, 3, 3), betas, [0.1, 0.2, 0.3])
        m = body(batch_rodrigues(go), bp, betas, [0.1, 0.2, 0.3])  # mixed forms, (B, 3, 3) orient
    for other in (r, m):
        assert torch.allclose(a.vertices, other.vertices, atol=1e-5)
        assert torch.allclose(a.keypoints_mediapipe33, other.keypoints_mediapipe33, atol=1e-5)
    with pytest.raises(ValueError):
        body(torch.zeros(1, 3), torch.zeros(1, 68))


def test_a_body_without_pose_correctives_skins_as_smplx_does(body):
    """The embedded body has no pose correctives, so its forward skips smplx's product with zero posedirs
    (BodyModel._skin_without_correctives): vertices and joints as smplx.SMPL gives them, from axis-angle
    and from rotation matrices, with shapes and translations."""
    from smplx.lbs import batch_rodrigues

    assert not body.has_pose_correctives
    g = torch.Generator().manual_seed(1)
    go, bp = torch.randn(3, 3, generator=g) * 0.7, torch.randn(3, 69, generator=g) * 0.4
    betas, transl = torch.randn(3, 10, generator=g), torch.randn(3, 3, generator=g)
    with torch.no_grad():
        smpl = body.smpl(betas=betas, body_pose=bp, global_orient=go, transl=transl)
        ours = body(go, bp, betas, transl)
        as_matrices = body(batch_rodrigues(go).reshape(3, 1, 3, 3), batch_rodrigues(bp.reshape(-1, 3)).reshape(3, 23, 3, 3),
                           betas, transl)
    for out in (ours, as_matrices):
        assert torch.allclose(out.vertices, smpl.vertices, atol=1e-5)
        assert torch.allclose(out.joints, smpl.joints[:, :24], atol=1e-5)


def test_keypoints_follow_joints_and_translation(body):
    t = torch.tensor([[0.5, -0.2, 3.0]])
    with torch.no_grad():
        out = body(torch.zeros(1, 3), torch.zeros(1, 69), transl=t)
    coco, mp, j = out.keypoints_coco17[0], out.keypoints_mediapipe33[0], out.joints[0]
    assert torch.allclose(coco[COCO17_NAMES.index("l_wrist")], j[J["l_wrist"]])
    assert torch.allclose(coco[COCO17_NAMES.index("r_hip")], j[J["r_hip"]])  # SMPL hips, by design
    assert torch.allclose(mp[MEDIAPIPE33_NAMES.index("l_knee")], j[J["l_knee"]])
    rel = (coco - t)[:, 1]
    nose, l_eye, l_ear = (COCO17_NAMES.index(n) for n in ("nose", "l_eye", "l_ear"))
    assert rel[nose] > j[J["neck"], 1] - t[0, 1] and abs(coco[nose, 0] - t[0, 0]) < 0.005
    assert coco[nose, 2] > coco[l_eye, 2] > coco[l_ear, 2]  # nose in front, ears behind
    heel, toe = mp[MEDIAPIPE33_NAMES.index("l_heel")], mp[MEDIAPIPE33_NAMES.index("l_foot_index")]
    assert toe[2] - heel[2] > 0.15 and heel[1] < j[J["l_ankle"], 1]


def test_beta0_changes_height_monotonically(body):
    b0 = torch.linspace(-3, 3, 13)
    betas = torch.zeros(13, 10)
    betas[:, 0] = b0
    with torch.no_grad():
        v = body.rest_vertices(betas).numpy()
    h = v[..., 1].max(1) - v[..., 1].min(1)
    d = np.diff(h)
    assert np.all(d > 0), h
    assert d.max() / d.min() < 1.5  # smooth: no jumps
    assert h[-1] - h[0] > 0.3  # +-3 sigma spans a real range of heights


def test_some_beta_changes_girth(body):
    found = []
    for k in range(1, 10):
        betas = torch.zeros(2, 10)
        betas[:, k] = torch.tensor([-2.0, 2.0])
        with torch.no_grad():
            v = body.rest_vertices(betas).numpy().astype(np.float64)
        h = v[..., 1].max(1) - v[..., 1].min(1)
        vol = [mesh_volume(x, body.faces) for x in v]
        if abs(vol[1] - vol[0]) / min(vol) > 0.15 and abs(h[1] - h[0]) / min(h) < 0.03:
            found.append(k)
    assert found, "no beta changes body volume without changing height"


def test_batch_of_betas_broadcast(body):
    with torch.no_grad():
        one = body(torch.zeros(3, 3), torch.zeros(3, 69), betas=torch.ones(10))
        many = body(torch.zeros(3, 3), torch.zeros(3, 69), betas=torch.ones(3, 10))
        short = body(torch.zeros(3, 3), torch.zeros(3, 69), betas=torch.ones(3, 2))
    assert torch.allclose(one.vertices, many.vertices)
    assert short.vertices.shape == many.vertices.shape


def test_embedded_metadata_records_fit_quality():
    if not EMBEDDED.is_file():
        pytest.skip("embedded model missing")
    import json

    with np.load(EMBEDDED, allow_pickle=False) as z:
        meta = json.loads(str(z["metadata_json"]))
        assert z["shapedirs"].shape[:2] == (13718, 3) and 10 <= z["shapedirs"].shape[2] <= 20
        assert "posedirs" not in z.files
    assert meta["anny_version"] == "0.6.2" and "CC0" in meta["licence"]
    assert meta["regressor_error_mm_mean"] < 2.0
    assert EMBEDDED.stat().st_size < 8e6


# -- a fabricated SMPL-format pickle through the drop-in path -----------------------------


_SKELETON = np.array([
    [0, 0, 0], [0.06, -0.09, 0], [-0.06, -0.09, 0], [0, 0.1, 0], [0.1, -0.47, 0], [-0.1, -0.47, 0],
    [0, 0.24, 0], [0.09, -0.87, -0.03], [-0.09, -0.87, -0.03], [0, 0.3, 0], [0.11, -0.93, 0.1],
    [-0.11, -0.93, 0.1], [0, 0.5, 0], [0.07, 0.42, 0], [-0.07, 0.42, 0], [0, 0.6, 0.05],
    [0.17, 0.44, 0], [-0.17, 0.44, 0], [0.43, 0.44, 0], [-0.43, 0.44, 0], [0.69, 0.44, 0],
    [-0.69, 0.44, 0], [0.77, 0.44, 0], [-0.77, 0.44, 0],
])  # fmt: skip


def _fake_smpl(chumpy: bool = True, monkeypatch=None) -> dict:
    """A tiny SMPL-format model: one tetrahedron per joint, official-file quirks included."""
    tet = np.array([[0.02, 0.02, 0.02], [0.02, -0.02, -0.02], [-0.02, 0.02, -0.02], [-0.02, -0.02, 0.02]])
    v = (_SKELETON[:, None] + tet[None]).reshape(-1, 3)
    n = len(v)
    faces = np.concatenate([np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]) + 4 * j for j in range(24)])
    owner = np.repeat(np.arange(24), 4)
    weights = np.eye(24)[owner]
    jreg = scipy.sparse.csc_matrix(weights.T / 4.0)  # official files ship a sparse regressor
    rng = np.random.default_rng(0)
    shapedirs = np.zeros((n, 3, 10))
    shapedirs[:, 1, 0] = v[:, 1] * 0.05  # beta 0 stretches vertically
    shapedirs[:, :, 1:] = rng.normal(0, 1e-3, (n, 3, 9))
    kintree = np.array([[4294967295, *SMPL_PARENTS[1:]], list(range(24))], dtype=np.int64)
    data = {
        "v_template": v,
        "f": faces.astype(np.uint32),
        "weights": weights,
        "J_regressor": jreg,
        "kintree_table": kintree,
        "shapedirs": shapedirs,
        "posedirs": rng.normal(0, 1e-4, (n, 3, 207)),
        "bs_style": "lbs",
    }
    if chumpy:
        data["shapedirs"] = _make_fake_ch(shapedirs, monkeypatch)
    return data


def _make_fake_ch(value: np.ndarray, monkeypatch):
    """An object that pickles as chumpy.ch.Ch with chumpy's state layout (value under 'x')."""
    module = types.ModuleType("chumpy.ch")
    package = types.ModuleType("chumpy")

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

        def __getstate__(self):
            return {"x": self.x, "_dirty_vars": self._dirty_vars}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch
    package.ch = module
    monkeypatch.setitem(sys.modules, "chumpy", package)
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch(value)


def _write_pickle(path: Path, obj, protocol: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def _fake_pickle_file(path: Path, monkeypatch) -> Path:
    data = _fake_smpl(True, monkeypatch)
    out = _write_pickle(path, data)
    # Loading must not need chumpy: take the fake one away again before reading.
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    return out


def test_fabricated_smpl_pickle_loads_via_env_var(isolated, monkeypatch):
    folder = isolated.tmp / "my_smpl"
    pkl = _fake_pickle_file(folder / "SMPL_NEUTRAL.pkl", monkeypatch)
    monkeypatch.setenv("GENHMR_SMPL_PATH", str(folder))
    assert find_body_model_file() == pkl
    model = load_body_model()
    assert model.info.kind == "smpl" and model.info.path == pkl and model.info.num_vertices == 96
    assert "non-commercial" in model.info.licence
    with torch.no_grad():
        rest = model(torch.zeros(1, 3), torch.zeros(1, 69))
        tall = model(torch.zeros(1, 3), torch.zeros(1, 69), betas=torch.tensor([[2.0] + [0.0] * 9]))
    assert torch.allclose(rest.joints[0], torch.as_tensor(_SKELETON, dtype=torch.float32), atol=1e-5)
    assert torch.allclose(rest.keypoints_coco17[0, COCO17_NAMES.index("l_elbow")], rest.joints[0, J["l_elbow"]])
    assert rest.keypoints_mediapipe33.shape == (1, 33, 3)
    assert tall.vertices[0, :, 1].max() > rest.vertices[0, :, 1].max()
    # The env var may also name the file itself.
    monkeypatch.setenv("GENHMR_SMPL_PATH", str(pkl))
    assert find_body_model_file() == pkl


def test_fabricated_smpl_pickle_explicit_and_search_order(isolated, monkeypatch):
    user_pkl = _fake_pickle_file(isolated.user_models / "basicmodel_neutral_lbs_10_207_0_v1.0.0.pkl", monkeypatch)
    weights_pkl = _write_pickle(isolated.weights / "SMPL_NEUTRAL.pkl", _fake_smpl(chumpy=False))
    assert find_body_model_file() == user_pkl  # user folder before the app's weights
    user_pkl.unlink()
    assert find_body_model_file() == weights_pkl
    explicit = _write_pickle(isolated.tmp / "elsewhere" / "model.pkl", _fake_smpl(chumpy=False))
    assert find_body_model_file(explicit) == explicit
    assert load_body_model(explicit).info.path == explicit
    weights_pkl.unlink()
    if EMBEDDED.is_file():
        assert find_body_model_file() == isolated.weights / "body" / EMBEDDED.name


def test_missing_file_is_reported(isolated):
    missing = isolated.tmp / "nope" / "SMPL_NEUTRAL.pkl"
    with pytest.raises(BodyModelError, match="not found") as err:
        load_body_model(missing)
    assert str(missing) in str(err.value)
    with pytest.raises(BodyModelError, match="No SMPL model in the folder"):
        find_body_model_file(isolated.tmp)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("random.pkl", bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "corrupt"),
        ("truncated.pkl", pickle.dumps({"v_template": np.zeros((10, 3))}, protocol=2)[:-40], "corrupt"),
        ("keys.pkl", pickle.dumps({"v_template": np.zeros((10, 3)), "f": np.zeros((1, 3), int)}), "missing"),
        ("list.pkl", pickle.dumps([1, 2, 3]), "not an SMPL model"),
        ("photo.pkl", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image"),
        ("evil.pkl", b"cos\nsystem\n(S'echo hacked'\ntR.", "not part of an SMPL model"),
    ],
)
def test_bad_files_raise_clear_errors(isolated, name, content, message):
    path = isolated.tmp / name
    path.write_bytes(content)
    with pytest.raises(BodyModelError, match=message) as err:
        load_body_model(path)
    assert name in str(err.value)


def test_wrong_shapes_and_smplx_files_are_explained(isolated):
    data = _fake_smpl(chumpy=False)
    data["kintree_table"] = np.zeros((2, 55), dtype=np.int64)
    path = _write_pickle(isolated.tmp / "smplx.pkl", data)
    with pytest.raises(BodyModelError, match="SMPL-X"):
        load_body_model(path)
    data = _fake_smpl(chumpy=False)
    data["weights"] = data["weights"][:, :20]
    with pytest.raises(BodyModelError, match="weights have shape"):
        load_body_model(_write_pickle(isolated.tmp / "weights.pkl", data))
    npz = isolated.tmp / "other.npz"
    np.savez(npz, a=np.zeros(3))
    with pytest.raises(BodyModelError, match="not a GenHMR body model"):
        load_body_model(npz)


@needs_embedded
def test_fallback_returns_embedded_model_with_warning(isolated):
    broken = isolated.tmp / "SMPL_NEUTRAL.pkl"
    broken.write_bytes(b"not a pickle at all")
    model, warning = load_body_model_with_fallback(broken)
    assert model.info.kind == "embedded"
    assert warning and "SMPL_NEUTRAL.pkl" in warning and "built-in" in warning
    model, warning = load_body_model_with_fallback(None)
    assert model.info.kind == "embedded" and warning is None
