"""A learned correction of MediaPipe's 2D landmarks, and how far to trust each one, for the joint fit.

Why: the joint fit (refinement/joint_fit.py) pulls the body onto the detector's 2D landmarks, so their
errors become the body's. The twentieth session's oracles on the rendered validation scenes (seed 10,
597 people) put the 2D landmarks first among the pipeline's inputs: the fit given the true body's 2D
keypoints instead of MediaPipe's gave 62.6 mm MPJPE against the shipped 72.1. Many of MediaPipe's errors
are habits that the landmarks themselves give away: a foreshortened forearm's wrist drawn short, a hidden
knee put on the visible one's line, a side view's far shoulder. A small network, given what MediaPipe
reported for one person (2D in the person's box, its depth, visibility, presence and world landmarks),
(an ensemble of a few, averaged) predicts where the detector would have put each landmark had it been right (the true body's keypoint with
the landmark placement, detection/placement.py) and how far off the landmark is likely to be.

The fit then gets the corrected landmarks, each weighted by MediaPipe's visibility times
min(1, (reference / predicted spread)^power): a landmark the network expects to be far off counts less.
Twenty-first session, seed-10 validation, 597 people: 72.08 mm → 68.94 with the correction alone and
68.38 with the weights (power 2, reference 1% of the box); the generator's input stays MediaPipe's own
landmarks (corrected ones there measured 69.4: the generator was trained on what MediaPipe reports).

It is OFF by default (ReconstructionSettings.landmark_correction): on the real images it hurts. Same
session, `main.py validate --real`: MPI-INF-3DHP PA-MPJPE 110.8 → 130.9 mm (4 frames; MediaPipe 125.1)
and the annotated photos' 2D 7.13 → 7.46% of the height (MediaPipe 7.06); the shift alone 125.1 / 7.29,
the weights alone 123.6 / 7.43, half the shift 125.8 / 7.35. The network learnt MediaPipe's habits on
our renders, and real photos do not share all of them. Training on real detections with 2D truth, or
renders closer to photos, is what would let it be switched on.

Twenty-second session: a domain check. The ensemble's members agree on renders like their training data
and disagree on inputs unlike them; past the validation renders' 95th percentile of that disagreement
the correction fades, and past the 99th it is not used (CorrectionSettings.trusted_disagreement). On the
validation renders it costs nothing (68.15 → 68.19 mm) and MPI-INF-3DHP is back at 110.8 mm, but the
photos' 2D is still 7.32% (off 7.13): of 22 shared photos the check trusts 6 fully, 11 in part and 5 not
at all (the taiji video: 41 of 42 frames fully), and the three annotated photos it trusted fully all got
worse. Disagreement finds inputs the networks never saw; it does not find habits that differ between
renders and photos. The correction stays off.

Thirty-third session: a two-look corrector. Since the twenty-sixth session the still path fits the
landmarks of MediaPipe's tracking passes (detection/tracking_looks.py), which the corrector had never
seen: its data predated them. New detector data keeps each still's first and last pass's looks
(`generate-detector-data --tracking-passes 2`), and the shipped ensemble, fine-tuned on all three looks,
reads for a pass's look also where the first look put each landmark and how sure the pass's heatmap is
(CorrectorConfig.looks, LOOK_FEATURES; zero weights on them to start, so it began as the corrector before).
Seed-10 validation against the thirtieth session's corrector: flat −0.31 mm (−0.58 to −0.04), dressed
−0.36 (−0.58 to −0.14), 2D −0.10 px; the same fine-tune reading one look: −0.13 (−0.41 to +0.15).
Thirty-fourth session: the same recipe on 74,000 such renders instead of 30,000, against the thirty-third
session's: flat −0.38 mm (−0.56 to −0.21), dressed −0.22 (−0.34 to −0.10).

Thirty-fifth session: a corrector that also reads the image, a grey patch around each landmark
(CorrectorConfig.patches, detection/landmark_patches.py; detector data made with --patches). The fit
given the true 2D showed that the dressed renders lose in the 2D landmarks (flat 56.0, dressed 56.8 mm,
against 65.1 / 68.7 for the app), which the landmarks alone cannot tell from a loose sleeve. Fine-tuned by
the shipped recipe on the 74,000 flat renders and 23,800 mixed-look ones: seed-10 validation dressed
−0.78 mm (−1.09 to −0.46), flat −0.12; the same data read without patches −0.23 / +0.07. Not shipped:
the real photos' 2D got worse (6.41 → 6.64% of the height), and the app's model process did not receive
the image the patches are cut from.

Thirty-sixth session, shipped: the same recipe with all 42,600 mixed-look renders (39,225 found; about
half dressed). Against the thirty-fourth session's corrector, seed-10 validation dressed −1.09 mm (−1.41
to −0.77), flat −0.17 (−0.57 to +0.23), seed-8 dressed −0.45 (−1.00 to +0.11); MPI-INF-3DHP 104.6 →
105.1; real photos 6.41 → 6.42% of the height, each person cropped 6.28 → 6.16%. A patch network twice as
wide with twice the numbers per patch learnt the same (held-out dressed last look 12.03 against 12.06 px).
The fit cuts the patches around the look it corrects from DetectedPerson.image; where the image does not
go (the model process), the detection carries the patches of each look instead
(DetectionResult.with_patches_cut).

Trained on renders run through the real detector (training/train_landmark_corrector.py); the weights
live in weights/detector/landmark_corrector.pt with their card beside them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genhmr_app.detection.landmark_patches import PATCH_SIZE
from genhmr_app.detection.landmarks import MP33_FLIP_INDEX, MP33_INDEX
from genhmr_app.frozen_graphs import FrozenGraphs
from genhmr_app.paths import WEIGHTS_DIR

log = logging.getLogger(__name__)

CORRECTOR_FORMAT = "genhmr-landmark-corrector/1"
CORRECTOR_PATH = WEIGHTS_DIR / "detector" / "landmark_corrector.pt"
NUM_LANDMARKS = 33
# The person's frame: centred on the mean of both shoulders and hips, scaled by the larger side of the
# landmarks' bounding box, so the same pose gives the same numbers at any size or place in the image.
FRAME_LANDMARKS = tuple(MP33_INDEX[n] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
HIPS = (MP33_INDEX["left_hip"], MP33_INDEX["right_hip"])
# The 12 limb landmarks (COCO's shoulders to ankles), where the fit's error is measured and where the
# ensemble's disagreement is read.
LIMB_LANDMARKS = tuple(MP33_INDEX[f"{side}_{part}"] for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
                       for side in ("left", "right"))
FEATURES = NUM_LANDMARKS * 2 + NUM_LANDMARKS * 3 + NUM_LANDMARKS * 3  # 2D, z / vis / presence, world
# A two-look corrector (CorrectorConfig.looks) also reads, for a still's tracking-pass look, where MediaPipe's
# first look put each landmark (relative to the look corrected, in its box units), the pass's heatmap
# certainty, and a flag saying the look is a tracking pass's (0 and zeros for a first or VIDEO-mode look).
LOOK_FEATURES = NUM_LANDMARKS * 2 + NUM_LANDMARKS + 1
# A corrector that reads image patches (CorrectorConfig.patches) turns each landmark's grey patch
# (detection/landmark_patches.py) into CorrectorConfig.patch_embed numbers, with one small network
# (patch_hidden wide) shared by all 33.
MAX_SHIFT = 0.5  # of the person's box: a correction can never move a landmark further
LOG_SPREAD_RANGE = (-6.0, 3.0)


@dataclass(frozen=True)
class CorrectorConfig:
    width: int = 512
    layers: int = 3
    # "all": everything MediaPipe reports; "2d": the 2D landmarks, visibility and presence only (its depth
    # and world landmarks left out: the parts of its output most bound to how a render looks).
    inputs: str = "all"
    # True: also reads the still's other look (LOOK_FEATURES), so that a tracking pass's look is corrected
    # knowing where the first look disagreed with it and how sure the pass was.
    looks: bool = False
    # True: also reads a grey patch of the image around each landmark corrected (PatchEncoder), so that it
    # can tell, say, a loose sleeve's end from the wrist (thirty-fifth session).
    patches: bool = False
    patch_hidden: int = 64  # the patch network's hidden width
    patch_embed: int = 8  # numbers it makes of each patch

    @property
    def num_features(self) -> int:
        return FEATURES + (LOOK_FEATURES if self.looks else 0)

    @property
    def patch_inputs(self) -> int:
        """What the patches add to the first layer's input: the embeddings and a flag, 1 when they are there."""
        return NUM_LANDMARKS * self.patch_embed + 1


# Which features each `inputs` keeps (see corrector_features for their order).
_FEATURE_SLICES = {"2d": slice(0, NUM_LANDMARKS * 2), "z": slice(NUM_LANDMARKS * 2, NUM_LANDMARKS * 3),
                   "visibility": slice(NUM_LANDMARKS * 3, NUM_LANDMARKS * 4),
                   "presence": slice(NUM_LANDMARKS * 4, NUM_LANDMARKS * 5), "world": slice(NUM_LANDMARKS * 5, FEATURES)}
INPUT_SETS = {"all": tuple(_FEATURE_SLICES), "2d": ("2d", "visibility", "presence")}


def input_mask(inputs: str, looks: bool = False) -> torch.Tensor:
    """(features,) 1 for the features a network with these `inputs` reads, 0 for those it ignores."""
    if inputs not in INPUT_SETS:
        raise CorrectorError(f"unknown corrector inputs {inputs!r} (known: {', '.join(INPUT_SETS)})")
    mask = torch.zeros(FEATURES + (LOOK_FEATURES if looks else 0))
    for name in INPUT_SETS[inputs]:
        mask[_FEATURE_SLICES[name]] = 1.0
    mask[FEATURES:] = 1.0
    return mask


@dataclass(frozen=True)
class CorrectionSettings:
    """How the predicted spread turns into the fit's weights (measured on validation scenes, see above)."""

    # 0: MediaPipe's visibility alone. Seed-10 validation MPJPE (mm): 0 → 68.94, 1 → 68.51, 2 → 68.38.
    spread_power: float = 2.0
    # The spread (share of the person's box) below which a landmark keeps its whole visibility weight;
    # about the median predicted spread of the limb landmarks (0.0085). 0.02: 68.71 at power 1 (0.01: 68.51).
    reference_spread: float = 0.01
    # The share of the predicted shift applied (0: MediaPipe's points, only re-weighted).
    shift_share: float = 1.0
    # A domain check. The members of the ensemble agree on people like those they were trained on and
    # disagree on others (real photos are not our renders). Their disagreement (the mean distance of a
    # member's limb shifts from the ensemble's, share of the box) up to `trusted_disagreement` keeps the
    # whole correction; from `untrusted_disagreement` on, MediaPipe's own points and visibility are used;
    # in between, the correction fades linearly. The two are the disagreement's 95th and 99th percentiles
    # on the first 300 seed-10 validation renders (0.0037 / 0.0076). There the check costs nothing
    # (68.15 → 68.19 mm), and on MPI-INF-3DHP it gives back the uncorrected 110.8 mm (ungated 130.9: the
    # frame that went 116.8 → 183.0 has disagreement 0.020). They belong to the shipped weights: a
    # retrained ensemble disagrees by its own amounts (the 2D-only one: 0.0035 / 0.0084), so measure its
    # percentiles and pass them with it (scripts/analysis/corrector_disagreement.py). A single network
    # cannot disagree with itself: always trusted. Thirty-fourth session: the two-look ensemble's (74,000
    # renders), on the last tracking pass's look the still path fits (image look 0.0036 / 0.0089, first
    # pass 0.0034 / 0.0078). Its 99th percentile over the shipped 0.0077: −0.02 to −0.09 mm on validation.
    # Thirty-sixth session: the patch-reading ensemble's, on the same look (image look 0.0054 / 0.0103,
    # first pass 0.0047 / 0.0075).
    trusted_disagreement: float = 0.0052
    untrusted_disagreement: float = 0.0074


@dataclass
class CorrectedLandmarks:
    landmarks_px: np.ndarray  # (33, 2) float32, where the detector would have put them on the true body
    weights: np.ndarray  # (33,) float32, the fit's weight: visibility x trust in the corrected point
    spread: np.ndarray  # (33,) float32, predicted error, share of the person's box
    disagreement: float = 0.0  # the ensemble members' disagreement on the limb shifts, share of the box
    applied_share: float = 1.0  # how much of the correction was used (0: MediaPipe's own, see the domain check)


class CorrectorError(ValueError):
    """A landmark-corrector file that cannot be used."""


def person_frame(landmarks_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """landmarks_px (B, 33, 2) → centre (B, 1, 2) and scale (B, 1, 1) of the person's frame (see FRAME_LANDMARKS)."""
    centre = landmarks_px[:, list(FRAME_LANDMARKS)].mean(1, keepdims=True)
    scale = (landmarks_px.max(1) - landmarks_px.min(1)).max(-1)[:, None, None]
    return centre, np.maximum(scale, 1.0)


def corrector_features(landmarks_px: np.ndarray, landmarks_z: np.ndarray, visibility: np.ndarray,
                       presence: np.ndarray, world: np.ndarray) -> np.ndarray:
    """(B, FEATURES) float32 from what MediaPipe reported for B people: landmarks_px (B, 33, 2), landmarks_z /
    visibility / presence (B, 33), world (B, 33, 3) metres."""
    centre, scale = person_frame(landmarks_px)
    b = len(landmarks_px)
    world = world - world[:, list(HIPS)].mean(1, keepdims=True)
    return np.concatenate([((landmarks_px - centre) / scale).reshape(b, -1), landmarks_z / scale[:, :, 0],
                           visibility, presence, world.reshape(b, -1)], 1).astype(np.float32)


def look_features(landmarks_px: np.ndarray, first_look_px: np.ndarray | None, confidence: np.ndarray | None
                  ) -> np.ndarray:
    """(B, LOOK_FEATURES) float32 for a two-look corrector: landmarks_px (B, 33, 2) the look corrected; for a
    tracking pass's look, first_look_px (B, 33, 2) MediaPipe's first look and confidence (B, 33) the pass's
    heatmap peaks (None, None: the look corrected is a first or VIDEO-mode look)."""
    b = len(landmarks_px)
    if first_look_px is None:
        return np.zeros((b, LOOK_FEATURES), np.float32)
    _, scale = person_frame(landmarks_px)
    conf = np.ones((b, NUM_LANDMARKS), np.float32) if confidence is None else confidence
    return np.concatenate([((first_look_px - landmarks_px) / scale).reshape(b, -1), conf,
                           np.ones((b, 1), np.float32)], 1).astype(np.float32)


def network_inputs(landmarks_px: np.ndarray, landmarks_z: np.ndarray, visibility: np.ndarray, presence: np.ndarray,
                   world: np.ndarray, looks: bool, first_look_px: np.ndarray | None = None,
                   confidence: np.ndarray | None = None, is_pass: np.ndarray | None = None) -> np.ndarray:
    """(B, features) what a corrector's networks read: corrector_features, and for a two-look corrector
    (`looks`) look_features after them. `is_pass` (B,) bool: which rows are a tracking pass's look (the
    others get no other look); None: all of them when `first_look_px` is given."""
    features = corrector_features(landmarks_px, landmarks_z, visibility, presence, world)
    if not looks:
        return features
    extra = look_features(landmarks_px, first_look_px, confidence)
    if is_pass is not None:
        extra[~is_pass] = 0.0
    return np.concatenate([features, extra], 1)


def domain_share(disagreement: float, settings: CorrectionSettings) -> float:
    """The share of the correction to use, 1 → 0 as the ensemble's disagreement passes from trusted to untrusted."""
    lo, hi = settings.trusted_disagreement, settings.untrusted_disagreement
    if disagreement <= lo:
        return 1.0
    if disagreement >= hi or not np.isfinite(disagreement):
        return 0.0
    return float((hi - disagreement) / (hi - lo))


def mirror_landmarks(values: np.ndarray) -> np.ndarray:
    """(..., 33, C) → the same values with left and right landmarks swapped (an image's mirror image)."""
    return values[..., list(MP33_FLIP_INDEX), :]


def mirror_patches(patches: torch.Tensor) -> torch.Tensor:
    """(B, 33, P, P) → the patches of the mirrored image: each flipped left-right, left and right landmarks swapped."""
    return patches[:, list(MP33_FLIP_INDEX)].flip(-1)


class PatchEncoder(nn.Module):
    """(B, 33, P, P) uint8 grey patches → (B, 33 · embed). Each patch is brought to zero mean and unit
    contrast first: what matters is the shapes around the landmark, not how bright the photo is."""

    def __init__(self, hidden: int = CorrectorConfig.patch_hidden, embed: int = CorrectorConfig.patch_embed) -> None:
        super().__init__()
        self.embed = embed
        # An MLP over the whole patch, not a convolution: on the CPU a small convolution over ~17,000 patches
        # a batch took 150 µs a patch, this takes a few (thirty-fifth session).
        self.net = nn.Sequential(nn.Linear(PATCH_SIZE * PATCH_SIZE, hidden), nn.GELU(), nn.Linear(hidden, embed))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        b = patches.shape[0]
        x = patches.reshape(b * NUM_LANDMARKS, PATCH_SIZE * PATCH_SIZE).float()
        x = (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 8.0)
        return self.net(x).reshape(b, NUM_LANDMARKS * self.embed)


class CorrectorNet(nn.Module):
    """MLP: features (standardised inside) → shift (B, 33, 2) in person-box units and log spread (B, 33).
    A patch-reading one (CorrectorConfig.patches) also reads each landmark's patch, through PatchEncoder."""

    def __init__(self, config: CorrectorConfig = CorrectorConfig()) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("feature_mean", torch.zeros(config.num_features))
        self.register_buffer("feature_std", torch.ones(config.num_features))
        layers: list[nn.Module] = []
        width_in = config.num_features
        self.patch_encoder = PatchEncoder(config.patch_hidden, config.patch_embed) if config.patches else None
        # The patches' embeddings enter the first layer beside the features, through their own weights
        # (zero to start: a net fine-tuned into reading patches begins as it was), which train faster.
        self.patch_in = nn.Linear(config.patch_inputs, config.width, bias=False) if config.patches else None
        if self.patch_in is not None:
            nn.init.zeros_(self.patch_in.weight)
        for _ in range(config.layers):
            layers += [nn.Linear(width_in, config.width), nn.GELU()]
            width_in = config.width
        layers.append(nn.Linear(width_in, NUM_LANDMARKS * 3))
        self.mlp = nn.Sequential(*layers)
        # A constant of the config, not a weight: not saved, so files from before it load unchanged.
        self.register_buffer("input_mask", input_mask(config.inputs, config.looks), persistent=False)

    def forward(self, features: torch.Tensor, patches: torch.Tensor | None = None,
                has_patches: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, F); for a patch-reading net, patches (B, 33, P, P) uint8 (None: none for any row)
        and has_patches (B,) bool (None: every row has them); a row without patches reads zeros."""
        x = (features - self.feature_mean) / self.feature_std * self.input_mask
        if self.patch_encoder is not None:
            b = features.shape[0]
            if patches is None:
                extra = torch.zeros(b, self.config.patch_inputs, dtype=x.dtype, device=x.device)
            elif has_patches is None:  # every row has them (as at inference): no masking to pay for
                extra = torch.cat([self.patch_encoder(patches).to(x.dtype), x.new_ones(b, 1)], 1)
            else:
                has = has_patches
                embedded = torch.zeros(b, self.config.patch_inputs - 1, dtype=x.dtype, device=x.device)
                if bool(has.any()):  # only the rows that have patches pay for them
                    embedded = embedded.index_put((has,), self.patch_encoder(patches[has]).to(x.dtype))
                extra = torch.cat([embedded, has.to(x.dtype).reshape(b, 1)], 1)
            out = self.mlp[1:](self.mlp[0](x) + self.patch_in(extra))
        else:
            out = self.mlp(x)
        shift = out[:, : NUM_LANDMARKS * 2].reshape(-1, NUM_LANDMARKS, 2).clamp(-MAX_SHIFT, MAX_SHIFT)
        return shift, out[:, NUM_LANDMARKS * 2:].clamp(*LOG_SPREAD_RANGE)


class LandmarkCorrector:
    """One or more CorrectorNets (an ensemble: their shifts and log spreads are averaged)."""

    def __init__(self, nets: list[CorrectorNet], card: dict | None = None) -> None:
        if not nets:
            raise CorrectorError("a landmark corrector needs at least one network")
        self.nets = [net.eval() for net in nets]
        for p in (p for net in self.nets for p in net.parameters()):
            p.requires_grad_(False)
        self.card = card or {}
        # One person at a time (the app's still and live paths), each member traced and frozen: ~0.5 ms
        # less for the three members here; batches (training, evaluation) run eagerly.
        self._frozen = [FrozenGraphs(net, max_graphs=2) for net in self.nets]

    def predict(self, features: torch.Tensor, patches: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """features (B, FEATURES) → shift (B, 33, 2) in person-box units and log spread (B, 33), the members'
        mean, and the members' disagreement (B,): the mean distance of a member's limb shifts from the mean.
        `patches` (B, 33, P, P) uint8: read by a patch-reading corrector only."""
        with torch.no_grad():
            if features.shape[0] == 1 and features.device.type == "cpu":
                args = (features,) if patches is None else (features, patches)
                outs = [frozen.run(tuple(a.shape for a in args), *args) for frozen in self._frozen]
            else:
                outs = [net(features, patches) for net in self.nets]
        shifts = torch.stack([o[0] for o in outs])  # (M, B, 33, 2)
        shift = shifts.mean(0)
        limbs = list(LIMB_LANDMARKS)
        disagreement = (shifts[:, :, limbs] - shift[None, :, limbs]).norm(dim=-1).mean((0, 2))
        return shift, torch.stack([o[1] for o in outs]).mean(0), disagreement

    @property
    def reads_looks(self) -> bool:
        """Whether the networks also read the still's other look (CorrectorConfig.looks)."""
        return self.nets[0].config.looks

    @property
    def reads_patches(self) -> bool:
        """Whether the networks also read image patches around the landmarks (CorrectorConfig.patches)."""
        return self.nets[0].config.patches

    def correct(self, landmarks_px: np.ndarray, landmarks_z: np.ndarray, visibility: np.ndarray,
                presence: np.ndarray, world: np.ndarray,
                settings: CorrectionSettings = CorrectionSettings(), first_look_px: np.ndarray | None = None,
                look_confidence: np.ndarray | None = None, patches: np.ndarray | None = None) -> CorrectedLandmarks:
        """One person's MediaPipe output ((33, 2), (33,), (33,), (33,), (33, 3)) → the fit's landmarks and weights.
        For a tracking pass's look: `first_look_px` (33, 2), MediaPipe's first look, and `look_confidence`
        (33,), the pass's heatmap peaks (read by a two-look corrector only). `patches` (33, P, P) uint8, cut
        around `landmarks_px` (landmark_patches): read by a patch-reading corrector only."""
        px = np.asarray(landmarks_px, np.float32)[None]
        one = lambda a: None if a is None else np.asarray(a, np.float32)[None]  # noqa: E731
        features = network_inputs(px, one(landmarks_z), one(visibility), one(presence), one(world), self.reads_looks,
                                  one(first_look_px), one(look_confidence))
        if not np.isfinite(features).all():  # a detector glitch: keep MediaPipe's own points
            return CorrectedLandmarks(px[0], np.asarray(visibility, np.float32), np.full(NUM_LANDMARKS, np.nan, np.float32))
        patch_batch = None if patches is None or not self.reads_patches else torch.from_numpy(np.asarray(patches, np.uint8))[None]
        shift, log_spread, disagreement = self.predict(torch.from_numpy(features), patch_batch)
        _, scale = person_frame(px)
        spread = np.exp(log_spread[0].numpy())
        trust = np.minimum(1.0, (settings.reference_spread / spread) ** settings.spread_power) if settings.spread_power else 1.0
        applied = domain_share(float(disagreement[0]), settings)
        # Faded as a whole: the shift scales, and the spread's trust is raised to the same power (0: none).
        return CorrectedLandmarks((px + applied * settings.shift_share * shift.numpy() * scale)[0].astype(np.float32),
                                  (np.asarray(visibility, np.float32) * trust ** applied).astype(np.float32),
                                  spread.astype(np.float32), float(disagreement[0]), applied)

    def save(self, path: Path = CORRECTOR_PATH) -> None:
        """The weights and, beside them, their card (`.json`); both written whole or not at all."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".pt.tmp")
        torch.save({"format": CORRECTOR_FORMAT, "config": asdict(self.nets[0].config),
                    "members": [net.state_dict() for net in self.nets]}, tmp)
        tmp.replace(path)
        card = path.with_suffix(".json")
        tmp = card.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"format": CORRECTOR_FORMAT, **self.card}, indent=1))
        tmp.replace(card)

    @classmethod
    def load(cls, path: Path = CORRECTOR_PATH) -> LandmarkCorrector:
        path = Path(path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a damaged or foreign file
            raise CorrectorError(f"{path}: cannot be read as landmark-corrector weights ({exc})") from exc
        if not isinstance(data, dict) or data.get("format") != CORRECTOR_FORMAT:
            raise CorrectorError(f"{path}: not a {CORRECTOR_FORMAT} file")
        try:
            nets = []
            for state in data["members"]:
                net = CorrectorNet(CorrectorConfig(**data["config"]))
                net.load_state_dict(state)
                nets.append(net)
            corrector = cls(nets)
        except (KeyError, TypeError, RuntimeError, CorrectorError) as exc:
            raise CorrectorError(f"{path}: weights do not fit the landmark corrector ({exc})") from exc
        card_path = path.with_suffix(".json")
        try:
            corrector.card = json.loads(card_path.read_text()) if card_path.exists() else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            corrector.card = {}
        return corrector


def load_corrector(path: Path = CORRECTOR_PATH) -> tuple[LandmarkCorrector | None, str | None]:
    """The corrector, or None with the reason (the fit then uses MediaPipe's landmarks as they are)."""
    if not Path(path).exists():
        return None, f"no landmark corrector at {path}: the fit uses MediaPipe's landmarks as they are"
    try:
        return LandmarkCorrector.load(path), None
    except CorrectorError as exc:
        return None, f"{exc}; the fit uses MediaPipe's landmarks as they are"


def card_reads_patches(path: Path = CORRECTOR_PATH) -> bool:
    """Whether the corrector at `path` reads image patches, from its card alone (no weights loaded): so
    that a process that sends detections to another cuts the patches only for a corrector that reads
    them. False when there is no readable card."""
    try:
        card = json.loads(Path(path).with_suffix(".json").read_text())
        return bool(card.get("config", {}).get("patches", False))
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return False
