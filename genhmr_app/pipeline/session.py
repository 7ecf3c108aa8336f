"""What the app holds while it runs: body model, detectors, the GenHMR reconstructor, open sources.

No Qt here. The UI calls `process()` from its single worker thread; one lock serialises everything
that touches MediaPipe, torch models or a video decoder, none of which may be fed from two threads.

The reconstructor is created lazily inside the worker (loading weights and MediaPipe graphs takes a
second; the window must appear at once). When its weights are missing or broken the session runs in
detection-only mode: frames still get the 2D skeleton, and `model_message` says why there is no mesh.

Still images and paused video frames cache their detection, so moving a slider re-runs only sampling
and refinement. Live input (a playing video, a camera) uses MediaPipe's VIDEO mode, which tracks the
person from frame to frame instead of searching every frame.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from genhmr_app.detection import DetectionResult, DetectorError, PoseDetector
from genhmr_app.detection.landmarks import MP33_EDGES, MP33_LEFT, MP33_RIGHT
from genhmr_app.detection.landmark_correction import CORRECTOR_PATH, card_reads_patches
from genhmr_app.device import describe_device, resolve_device
from genhmr_app.image.loading import LoadedImage, load_image
from genhmr_app.image.sources import (
    CameraSource,
    CaptureFactory,
    Frame,
    PlaybackClock,
    PlaybackReader,
    SourceError,
    VideoFileSource,
    _cv2_capture,
)
from genhmr_app.pipeline import display
from genhmr_app.pipeline.reconstructor import Reconstruction, ReconstructionSettings
from genhmr_app.pipeline.still_model import StillViewData, person_view, still_step

log = logging.getLogger(__name__)

# How long a live-video job waits for the playback reader's next frame before reading one itself.
MAX_FRAME_WAIT_S = 2.0
STILL_PEOPLE = 4  # people reconstructed on a still or a paused video frame (live follows one)


# -- what to process -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRef:
    path: Path


@dataclass(frozen=True)
class VideoRef:
    path: Path
    index: int = 0
    live: bool = False  # playing: VIDEO-mode tracking, no detection cache


@dataclass(frozen=True)
class CameraRef:
    device: int = 0


FrameRef = ImageRef | VideoRef | CameraRef


@dataclass(frozen=True)
class OverlayRequest:
    """Which 2D mesh overlays to draw in the worker (each costs ~10-30 ms)."""

    fill: bool = True
    wire: bool = False


# -- what comes back -------------------------------------------------------------------------------
@dataclass
class PersonView:
    """Display-ready data for one person, all hypotheses in the reconstruction's rank order."""

    vertices: np.ndarray  # (S, V, 3) camera frame
    joints: np.ndarray  # (S, 24, 3) camera frame
    joint_uncertainty: np.ndarray  # (S, 24) in [0, 1], see display.joint_uncertainty
    vertex_uncertainty: np.ndarray  # (S, V) in [0, 1]
    normals: np.ndarray  # (V, 3) display frame, of hypothesis 0 (the others on demand)
    overlay: display.MeshOverlay | None  # of hypothesis 0
    sample_rows: list[int]  # row of each ranked hypothesis in the IterationRecord arrays (sampling order)
    faces: np.ndarray | None = None  # the reduced mesh's faces when `vertices` are a live preview; None: the body's


@dataclass
class FrameResult:
    ref: FrameRef
    frame: Frame
    source_name: str
    frame_count: int  # 1 for a still image or a camera
    source_fps: float | None  # a video file's frame rate
    detection: DetectionResult
    reconstruction: Reconstruction | None
    views: list[PersonView]
    settings: ReconstructionSettings
    timing_ms: dict[str, float]
    model_message: str | None = None  # why there is no mesh (detection-only mode)
    warnings: list[str] = field(default_factory=list)
    at_end: bool = False  # a playing video reached its last frame
    image_path: Path | None = None
    detection_cached: bool = False  # re-run on the same frame: the detection was reused
    live_note: str = ""  # what live tracking did with this frame (a restart and why)
    # Live frames: the frame reduced to the size the window shows it at (image/display_copy.py), or None.
    display_rgb: np.ndarray | None = None

    @property
    def rgb(self) -> np.ndarray:
        return self.frame.rgb


# -- the session -----------------------------------------------------------------------------------
ModelFactory = Callable[[object, str], object]  # (body model, device preference) → Reconstructor


def default_model_factory(body, device: str):
    from genhmr_app.pipeline.reconstructor import Reconstructor

    return Reconstructor(body=body, device=device)


def untrained_model_factory(seed: int = 0) -> ModelFactory:
    """Small random networks (as in tests/test_core_sampling.py): the whole pipeline runs, the poses
    are meaningless. For tests and benchmarks on machines without trained weights."""

    def make(body, device: str):
        import torch

        from genhmr_app.generator.model import GeneratorConfig, MaskedPoseTransformer
        from genhmr_app.pipeline.reconstructor import Reconstructor
        from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig

        torch.manual_seed(seed)
        tok = PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16, hidden=128, depth=1))
        gen = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=64, width=64, layers=2, heads=2))
        return Reconstructor(body=body, tokenizer=tok, generator=gen, device=device)

    return make


def stand_in_model_factory(seed: int = 0) -> tuple[ModelFactory, str]:
    """For benchmarks and screenshots before the generator is trained: the trained tokenizer when it
    exists (so decoded poses look human) and an untrained generator of the default size (so timings
    are those of the real architecture). Returns the factory and a description for reports."""
    from genhmr_app.pipeline.reconstructor import TOKENIZER_PATH

    have_tokenizer = TOKENIZER_PATH.exists()

    def make(body, device: str):
        import torch

        from genhmr_app.generator.model import GeneratorConfig, MaskedPoseTransformer
        from genhmr_app.pipeline.reconstructor import Reconstructor
        from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig, load_tokenizer

        torch.manual_seed(seed)
        tok = load_tokenizer(TOKENIZER_PATH) if have_tokenizer else PoseTokenizer(TokenizerConfig())
        gen = MaskedPoseTransformer(GeneratorConfig(num_tokens=tok.config.num_tokens,
                                                    codebook_size=tok.config.codebook_size))
        return Reconstructor(body=body, tokenizer=tok, generator=gen, device=device)

    what = ("trained tokenizer" if have_tokenizer else "untrained tokenizer") + \
        " + untrained generator of the default size (GeneratorConfig())"
    return make, what


def _model_load_errors() -> tuple[type[BaseException], ...]:
    from genhmr_app.generator.model import GeneratorCheckpointError
    from genhmr_app.pipeline.reconstructor import ReconstructionError
    from genhmr_app.tokens.model import TokenizerCheckpointError

    return (TokenizerCheckpointError, GeneratorCheckpointError, ReconstructionError, OSError, RuntimeError, ValueError)


class CoreSession:
    def __init__(self, body_model, body_model_warning: str | None, device_preference: str = "auto",
                 model_factory: ModelFactory = default_model_factory,
                 capture_factory: CaptureFactory = _cv2_capture) -> None:
        self.body_model = body_model
        self.body_model_warning = body_model_warning
        self.device_preference = device_preference
        self.device = resolve_device(device_preference)
        self.capture_factory = capture_factory
        self._model_factory = model_factory
        self._lock = threading.RLock()
        self._reconstructor = None
        self._model_tried = False
        self._pending_device: str | None = None
        self.model_message: str | None = None  # set when the pose model could not load
        self.model_name: str = "not loaded yet"
        self._detectors: dict[str, PoseDetector] = {}
        # A VIDEO-mode detector made ahead of the next live stream (prepare_video_detector): MediaPipe
        # takes ~1 s to build one and holds the GIL for ~50-100 ms of it, a stall when a stream starts.
        self._spare_video: PoseDetector | None = None
        self._spare_lock = threading.Lock()
        self._spare_thread: threading.Thread | None = None
        self._closed = False
        self._image: LoadedImage | None = None
        self._image_mtime: float | None = None
        self._detection_cache: tuple[tuple, Frame, DetectionResult] | None = None
        # The cached still's detection after its tracking passes (_looked_again), keyed by that cache's key
        # and the number of passes.
        self._looked_cache: tuple[tuple, DetectionResult] | None = None
        self._video: VideoFileSource | None = None
        self._camera: CameraSource | None = None
        self._last_video_ts: int | None = None
        self._last_detection_cached = False
        self._reader: PlaybackReader | None = None
        self._still_view_data: StillViewData | None = None  # skinning weights, overlay triangulation
        self._live_local = None  # ModelContext for live steps in this process (pipeline/live_model.py)
        self._live_process = None  # the live model process (started by prepare_live)
        self._live_warming: threading.Thread | None = None
        # The weight files a live model process loads; None when the models or the body came from
        # elsewhere (tests, a user SMPL file): then live steps run in this process.
        self.live_weights: dict | None = None
        self._process_corrector_reads_patches: bool | None = None  # read from the card when first needed

    @classmethod
    def create(cls, smpl_model_path: str = "", device_preference: str = "auto",
               model_factory: ModelFactory = default_model_factory, **kwargs) -> CoreSession:
        from genhmr_app.body.model import load_body_model_with_fallback

        body, warning = load_body_model_with_fallback(Path(smpl_model_path) if smpl_model_path else None, device="cpu")
        session = cls(body, warning, device_preference, model_factory, **kwargs)
        if model_factory is default_model_factory and not smpl_model_path and warning is None:
            from genhmr_app.pipeline.reconstructor import GENERATOR_PATH, TOKENIZER_PATH

            session.live_weights = {"tokenizer_path": TOKENIZER_PATH, "generator_path": GENERATOR_PATH}
        return session

    # -- descriptions for the status bar ---------------------------------------------------------
    @property
    def body_model_name(self) -> str:
        return self.body_model.info.name if self.body_model is not None else "none"

    @property
    def device_name(self) -> str:
        return describe_device(self.device)

    @property
    def model_loaded(self) -> bool:
        return self._reconstructor is not None

    def set_device(self, preference: str) -> None:
        """Takes effect on the next job: the reconstructor is rebuilt there, in the worker. Never
        blocks, so the UI thread can call it while a job runs."""
        self._pending_device = preference

    def _apply_pending_device(self) -> None:
        preference, self._pending_device = self._pending_device, None
        if preference is None or preference == self.device_preference:
            return
        self.device_preference = preference
        self.device = resolve_device(preference)
        self._drop_model()

    def _drop_model(self) -> None:
        if self._reconstructor is not None:
            self._reconstructor.close()
        self._reconstructor = None
        self._model_tried = False

    def reconstructor(self):
        """The GenHMR pipeline, or None in detection-only mode. Call from the worker thread."""
        with self._lock:
            if not self._model_tried:
                self._model_tried = True
                try:
                    self._reconstructor = self._model_factory(self.body_model, self.device_preference)
                    self.device = self._reconstructor.device
                    tok = self._reconstructor.tokenizer.config
                    self.model_name = f"GenHMR {tok.name}"
                    self.model_message = None
                except _model_load_errors() as exc:
                    self._reconstructor = None
                    self.model_name = "detection only"
                    self.model_message = f"No 3D body: the GenHMR model could not be loaded. {exc} Showing 2D detection only."
                    log.warning(self.model_message)
            return self._reconstructor

    def detector(self, mode: str = "image") -> PoseDetector:
        """"video": one tracked person (live speed); "image": up to STILL_PEOPLE people, as MediaPipe's
        own person detector finds them (as cheap as one); "everyone": the thorough search."""
        with self._lock:
            if mode not in self._detectors:
                self._detectors[mode] = (PoseDetector(mode="video") if mode == "video" else
                                         PoseDetector(mode="image", num_poses=STILL_PEOPLE if mode == "image" else 10))
            return self._detectors[mode]

    def video_detector(self, restart: bool = False) -> PoseDetector:
        """The VIDEO-mode detector for a live stream; `restart` drops its tracking (a new stream's
        timestamps start again)."""
        with self._lock:
            if restart:
                self._reset_video_detector()
                with self._spare_lock:
                    spare, self._spare_video = self._spare_video, None
                if spare is not None:
                    self._detectors["video"] = spare
            return self.detector("video")

    def prepare_video_detector(self) -> None:
        """Build the next live stream's VIDEO-mode detector in the background, now (call it when no
        stream runs: a video opened, the camera page shown, a stream stopped)."""
        with self._spare_lock:
            if self._spare_video is not None or self._closed or (
                    self._spare_thread is not None and self._spare_thread.is_alive()):
                return

            def build() -> None:
                try:
                    detector = PoseDetector(mode="video")
                except Exception as exc:  # noqa: BLE001 - the stream makes its own and reports the failure
                    log.debug("no spare video detector: %s", exc)
                    return
                with self._spare_lock:
                    keep = self._spare_video is None and not self._closed
                    if keep:
                        self._spare_video = detector
                if not keep:
                    detector.close()

            self._spare_thread = threading.Thread(target=build, name="video-detector-spare", daemon=True)
            self._spare_thread.start()

    def open_live(self, ref: FrameRef, clock: PlaybackClock | None = None):
        """(reader, (name, frame count, fps)) for a live stream (pipeline/live_stream.py): a
        PlaybackReader following `clock` for a video, a CameraReader for a camera. Raises
        SourceError (CameraUnavailable: no such camera) like process() does."""
        from genhmr_app.image.sources import CameraReader

        with self._lock:
            if isinstance(ref, CameraRef):
                if self._video is not None:
                    self._close_video()
                return CameraReader(self._camera_source(ref.device)), (f"Camera {ref.device}", 1, None)
            if not isinstance(ref, VideoRef) or clock is None:
                raise ValueError("a live stream plays a video (with its clock) or a camera")
            self.release_camera()
            self._stop_reader()
            video = self._video_source(Path(ref.path))
            return PlaybackReader(video, clock), (Path(ref.path).name, video.frame_count, video.fps)

    def _reset_video_detector(self) -> None:
        det = self._detectors.pop("video", None)
        if det is not None:
            det.close()
        self._last_video_ts = None

    # -- frames ----------------------------------------------------------------------------------
    def _load_image(self, path: Path) -> LoadedImage:
        mtime = path.stat().st_mtime if path.exists() else None
        cached = self._image
        if cached is not None and cached.path == path and self._image_mtime == mtime:
            return cached
        image = load_image(path)
        self._image, self._image_mtime = image, mtime
        return image

    def _video_source(self, path: Path) -> VideoFileSource:
        if self._video is None or self._video.path != path:
            self._close_video()
            self._video = VideoFileSource(path, self.capture_factory)
            self._reset_video_detector()
        return self._video

    def _camera_source(self, device: int) -> CameraSource:
        if self._camera is None or self._camera.device != device:
            self.release_camera()
            self._camera = CameraSource(device, self.capture_factory)
            self._reset_video_detector()
        return self._camera

    def release_camera(self) -> None:
        with self._lock:
            if self._camera is not None:
                self._camera.close()
                self._camera = None

    def _close_video(self) -> None:
        self._stop_reader()
        if self._video is not None:
            self._video.close()
            self._video = None

    def video_info(self, path: str | Path) -> tuple[int, float, int, int]:
        """(frame count, fps, width, height); opens the file (call from the worker)."""
        with self._lock:
            v = self._video_source(Path(path))
            return v.frame_count, v.fps, v.width, v.height

    def _grab(self, ref: FrameRef, clock: PlaybackClock | None) -> tuple[Frame, str, int, float | None, bool]:
        """The frame to process: (frame, name, frame count, fps, at_end)."""
        if isinstance(ref, ImageRef):
            self._stop_reader()
            image = self._load_image(Path(ref.path))
            return Frame(image.rgb, 0, 0), Path(ref.path).name, 1, None, False
        if isinstance(ref, CameraRef):
            if self._video is not None:
                self._close_video()
            return self._camera_source(ref.device).read(), f"Camera {ref.device}", 1, None, False
        self.release_camera()
        video = self._video_source(Path(ref.path))
        if ref.live and clock is not None:
            reader = self._playback_reader(video, clock)
            frame = reader.next_after(ref.index, MAX_FRAME_WAIT_S)
            if frame is not None:
                at_end = frame.index >= video.frame_count - 1 or (reader.at_end and frame.index <= ref.index)
                return frame, Path(ref.path).name, video.frame_count, video.fps, at_end
            index = clock.index_now()  # the reader is stuck: read directly
        else:
            index = ref.index
        self._stop_reader()
        index = min(index, video.frame_count - 1)
        try:
            frame = video.read(index)
        except SourceError:
            if not ref.live or index == 0:
                raise
            # Past the real end of a file whose header over-counts: show the last good frame.
            index = min(index, video.frame_count) - 1
            frame = video.read(index)
        return frame, Path(ref.path).name, video.frame_count, video.fps, index >= video.frame_count - 1

    def _playback_reader(self, video: VideoFileSource, clock: PlaybackClock) -> PlaybackReader:
        if self._reader is None or self._reader.clock is not clock or self._reader.video is not video:
            self._stop_reader()
            self._reader = PlaybackReader(video, clock)
        return self._reader

    def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.stop()
            self._reader = None

    def _detect(self, ref: FrameRef, frame: Frame, find_everyone: bool) -> DetectionResult:
        live = isinstance(ref, CameraRef) or (isinstance(ref, VideoRef) and ref.live)
        if live:
            if self._last_video_ts is not None and frame.timestamp_ms < self._last_video_ts:
                self._reset_video_detector()  # the stream restarted: stale tracking would mislead MediaPipe
            self._last_video_ts = frame.timestamp_ms
            self._detection_cache = self._looked_cache = None  # neither keeps a frame alive during a stream
            return self.detector("video").detect(frame.rgb, timestamp_ms=frame.timestamp_ms)
        key = (type(ref).__name__, str(getattr(ref, "path", "")), frame.index,
               self._image_mtime if isinstance(ref, ImageRef) else None, find_everyone)
        if self._detection_cache is not None and self._detection_cache[0] == key:
            self._last_detection_cached = True
            return replace(self._detection_cache[2], timing_ms=0.0)
        if find_everyone:
            detection = self.detector("everyone").detect_everyone(frame.rgb, max_people=10)
        else:
            detection = self.detector("image").detect(frame.rgb)
        self._detection_cache, self._looked_cache = (key, frame, detection), None
        return detection

    def _looked_again(self, recon, frame: Frame, detection: DetectionResult, passes: int) -> DetectionResult:
        """A still's detection with MediaPipe's tracking passes on it (Reconstructor.look_again), as
        Reconstructor.run gives them to every still: the fit pulls onto their looks, which sit closer to
        real people (twenty-sixth and thirty-second sessions). Cached beside the detection, so a slider
        change does not run them again. Live frames (no detection cache) and several people: unchanged."""
        if passes <= 0 or len(detection.people) != 1 or self._detection_cache is None:  # None: a live frame
            return detection
        key = (self._detection_cache[0], passes)
        if self._looked_cache is not None and self._looked_cache[0] == key:
            return replace(self._looked_cache[1], timing_ms=0.0)
        looked = recon.look_again(frame.rgb, detection, passes)
        self._looked_cache = (key, looked)
        self._last_detection_cached = False  # the passes ran: this still's detection was not all reused
        return looked

    def process(self, ref: FrameRef, settings: ReconstructionSettings = ReconstructionSettings(),
                overlays: OverlayRequest = OverlayRequest(), report: Callable[[object], None] | None = None,
                clock: PlaybackClock | None = None, find_everyone: bool = False) -> FrameResult:
        """Grab → detect → reconstruct → prepare what the views draw. `report(record)` is called
        after every sampling iteration (the confidence heatmap fills while sampling runs).
        Live frames follow one person; stills and paused video show everyone the detector reports,
        and with `find_everyone` the thorough search (PoseDetector.detect_everyone) finds more."""
        with self._lock:
            self._apply_pending_device()
            t0 = time.perf_counter()
            self._last_detection_cached = False
            frame, name, count, fps, at_end = self._grab(ref, clock)
            t_load = time.perf_counter()
            detection = self._detect(ref, frame, find_everyone)
            t_det = time.perf_counter()
            recon = self.reconstructor()
            t_looks = time.perf_counter()
            if recon is not None:
                detection = self._looked_again(recon, frame, detection, settings.tracking_passes)
            reconstruction, views, warnings = None, [], []
            timing = {"load": (t_load - t0) * 1000,
                      "detect": (t_det - t_load + time.perf_counter() - t_looks) * 1000,
                      "sample": 0.0, "refine": 0.0, "display": 0.0}
            if recon is not None and detection.people:
                settings = replace(settings, max_people=max(settings.max_people, len(detection.people)))
                done = self._still_in_process(detection, settings, overlays)
                if done is None:  # in this thread, the confidence reported after each sampling iteration
                    reconstruction = recon.reconstruct_detection(detection, settings, report)
                    t_disp = time.perf_counter()
                    views = [person_view(recon, self._still_data(), reconstruction, person, overlays)
                             for person in reconstruction.people]
                    timing["display"] = (time.perf_counter() - t_disp) * 1000
                else:
                    reconstruction, views, timing["display"] = done
                for view in views:
                    if view.overlay is not None:
                        view.overlay.prepare()
                reconstruction.image_path = Path(ref.path) if isinstance(ref, ImageRef) else None
                timing["sample"] = reconstruction.timing_ms.get("sample", 0.0)
                timing["refine"] = reconstruction.timing_ms.get("refine", 0.0)
                warnings = [p.fallback for p in reconstruction.people if p.fallback]
            timing["total"] = (time.perf_counter() - t0) * 1000
            if reconstruction is not None:
                reconstruction.timing_ms.update(detect=timing["detect"], total=timing["total"])
            return FrameResult(ref, frame, name, count, fps, detection, reconstruction, views, settings, timing,
                               self.model_message, warnings, at_end,
                               Path(ref.path) if isinstance(ref, ImageRef) else None, self._last_detection_cached)

    # -- display data ----------------------------------------------------------------------------
    def skin_weights(self) -> np.ndarray:
        return self._still_data().skin

    def _still_data(self) -> StillViewData:
        if self._still_view_data is None or self._still_view_data.body is not self.body_model:
            self._still_view_data = StillViewData(self.body_model)
        return self._still_view_data

    def _still_in_process(self, detection: DetectionResult, settings: ReconstructionSettings,
                          overlays: OverlayRequest):
        """The still's model work in the model process when it is up (pipeline/still_model.py);
        None: do it here (no process, or it failed)."""
        from genhmr_app.pipeline.model_process import ModelProcessError

        if not self.live_process_ready():
            return None
        try:
            return self._live_process.call(still_step, self._for_model_process(detection), settings, overlays)
        except ModelProcessError as exc:
            log.warning("model process: %s; reconstructing in this process", exc)
            return None

    # -- live frames (pipeline/live_stream.py) -----------------------------------------------------
    def prepare_live(self) -> None:
        """Gets the model process and live input ready in the background (anything was opened, the
        camera page shown), so that neither a slider nor playing waits: starts the model process
        (only for the shipped weights with the default body: the child loads both from their files;
        live frames and still requests run there), and builds what live frames need in
        this process too (the preview mesh, ~0.3 s of work that holds the GIL: done during playback,
        it froze the window for as long)."""
        from genhmr_app.pipeline.live_model import warm_process

        if self._live_process is None and self.live_weights is not None:
            from genhmr_app.pipeline.model_process import ModelProcess

            from genhmr_app.pipeline.live_stream import LIVE_MODEL_NICE

            self._live_process = ModelProcess.start(**self.live_weights, warm_up=warm_process, nice=LIVE_MODEL_NICE)
        if self._live_warming is None:
            self._live_warming = threading.Thread(target=self._warm_live_here, name="live-warm-up", daemon=True)
            self._live_warming.start()

    def _warm_live_here(self) -> None:
        from genhmr_app.pipeline.live_model import warm_live
        from genhmr_app.pipeline.model_process import ModelContext

        with self._lock:
            recon = self.reconstructor()
            if recon is not None and self._live_local is None:
                ctx = ModelContext(recon)
                warm_live(ctx)
                self._live_local = ctx

    def _for_model_process(self, detection: DetectionResult) -> DetectionResult:
        """`detection` as it crosses to the model process: without the image (a photo can be tens of
        megabytes to pickle), but with the patches around each look when the process's landmark
        corrector (the shipped file, which the process loads) reads them."""
        if self._process_corrector_reads_patches is None:
            self._process_corrector_reads_patches = card_reads_patches(CORRECTOR_PATH)
        if self._process_corrector_reads_patches:
            return detection.with_patches_cut()
        return detection.without_images()

    def live_token_count(self) -> int | None:
        """Pose tokens per hypothesis of the live generator, read from its card (no weights loaded):
        for laying the window's token plot out before a stream's first frame. None when unknown."""
        if self.live_weights is None:
            return None
        try:
            card = json.loads(Path(self.live_weights["generator_path"]).with_suffix(".json").read_text())
            return int(card["config"]["num_tokens"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def live_process_ready(self, timeout_s: float = 0.0) -> bool:
        proc = self._live_process
        return proc is not None and (proc.ready or (timeout_s > 0 and proc.wait_ready(timeout_s)))

    def live_result(self, ref: FrameRef, frame: Frame, detection: DetectionResult, stream: int,
                    settings: ReconstructionSettings, overlays: OverlayRequest, smoothing: float,
                    source: tuple[str, int, float | None], detect_ms: float, at_end: bool = False,
                    meanwhile: Callable[[], object] | None = None, hurry: bool = False) -> FrameResult:
        """A live frame's result (pipeline/live_model.live_step): in the live model process when it
        is up, else in this thread under the session lock (no still-image job uses the models then).
        `meanwhile()`: the caller's own work for this frame, run while the model process works on it
        (without the process: after the model). `hurry`: the model stage is behind detection (see
        LiveTracker.step)."""
        from genhmr_app.pipeline.live_model import attach_reduced, live_step
        from genhmr_app.pipeline.model_process import ModelContext, ModelProcessError

        name, count, fps = source
        t0 = time.perf_counter()
        args = (stream, detection, settings, overlays, smoothing, frame.timestamp_ms / 1000.0, hurry)
        step, where = None, "thread"
        self.prepare_live()
        if self.live_process_ready():
            try:
                # The frame stays here; live frames are corrected without patches (LiveTracker), so none go.
                raw = self._live_process.call_overlapped(meanwhile, live_step, stream, detection.without_images(),
                                                         *args[2:])
                meanwhile = None
                step, where = attach_reduced(raw, self.body_model), "process"
            except ModelProcessError as exc:
                log.warning("live model process: %s; continuing in this process", exc)
        if step is None:
            with self._lock:
                recon = self.reconstructor()
                if recon is not None:
                    if self._live_local is None or self._live_local.recon is not recon:
                        self._live_local = ModelContext(recon)
                    step = attach_reduced(live_step(self._live_local, *args), self.body_model)
        if meanwhile is not None:
            meanwhile()
        timing = {"load": 0.0, "detect": detect_ms, "sample": 0.0, "refine": 0.0, "display": 0.0}
        reconstruction, views, note = None, [], ""
        if step is not None:
            timing.update(step.timing_ms)
            note = step.note
            if step.person is not None:
                if step.view.overlay is not None:
                    step.view.overlay.prepare()
                w, h = detection.image_width, detection.image_height
                reconstruction = Reconstruction(w, h, step.focal, [step.person], detection, dict(timing), settings)
                views = [step.view]
        timing["total"] = detect_ms + (time.perf_counter() - t0) * 1000
        timing["in_process"] = 1.0 if where == "process" else 0.0
        return FrameResult(ref, frame, name, count, fps, detection, reconstruction, views, settings, timing,
                           self.model_message, [], at_end, None, False, note)

    def overlay_faces(self) -> np.ndarray:
        """The coarse triangulation the 2D overlays are drawn with (display.proxy_faces)."""
        return self._still_data().overlay_faces()

    def rest_vertices(self) -> np.ndarray:
        """The mean body's T-pose (V, 3), shown before anything is reconstructed."""
        return self.body_model.mean_rest_vertices().copy()

    def live_preview_scene(self):
        """The mean body at rest on the live preview mesh, with its skeleton and a camera frustum:
        what a stream's frames give the 3D view, for MeshView.warm_up. Also works out the preview
        mesh (~0.2 s holding the GIL) now rather than on a stream's first frame. None without a body."""
        from genhmr_app.body.lod import preview_mesh
        from genhmr_app.views.scene_render import MeshScene

        body = self.body_model
        if body is None:
            return None
        mesh = preview_mesh(body)
        joints = body.rest_joints()[0].detach().cpu().numpy()
        return MeshScene(vertices=body.mean_rest_vertices()[mesh.vertex_ids], faces=mesh.faces, joints=joints,
                         bones=self.smpl_skeleton(),
                         frustum=display.frustum_points(640, 480, 600.0, 1.0) + joints[0])

    @staticmethod
    def skeleton_33() -> tuple[list[tuple[int, int]], list[str]]:
        sides = ["left" if i in MP33_LEFT else "right" if i in MP33_RIGHT else "centre" for i in range(33)]
        return list(MP33_EDGES), sides

    def smpl_skeleton(self) -> list[tuple[int, int]]:
        return display.skeleton_edges(self.body_model.parents)

    def close(self) -> None:
        if self._live_process is not None:
            self._live_process.close()
            self._live_process = None
        with self._spare_lock:
            self._closed = True
            spare, self._spare_video = self._spare_video, None
        if spare is not None:
            spare.close()
        with self._lock:
            self._drop_model()
            for det in self._detectors.values():
                det.close()
            self._detectors.clear()
            self.release_camera()
            self._close_video()


__all__ = ["CameraRef", "CoreSession", "DetectorError", "FrameRef", "FrameResult", "ImageRef", "OverlayRequest",
           "PersonView", "PlaybackClock", "VideoRef"]
