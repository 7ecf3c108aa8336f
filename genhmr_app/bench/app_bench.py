"""App benchmark (a script, not a timed test): what a user of the window gets.

1. Sustained mesh updates per second through the window's own live path (LiveStream: capture,
   detection and model side by side → drawing), next to MediaPipe alone on the same frames in the
   same run; frame-to-screen latency (a frame's capture until the 3D view has rendered its mesh);
   the longest event-loop stall meanwhile. Three feeds:
   - `playback`: a camera at camera speed (--camera-fps, 30): the video's frames, decoded beforehand
     and handed out at that rate as a webcam does (image/sources.ScriptedCapture paced);
   - `capacity`: the same camera at --capacity-fps (60), faster than the app can go, so that the
     ratio to MediaPipe alone measures the app; at 30 fps the camera's own rate bounds it whenever
     MediaPipe alone passes 50 fps (`feed_bound_ratio`);
   - `video_file`: the video file playing in real time (its own frame rate caps the updates: 24 fps
     for the default clip), decoded as it plays.
2. Slider latency: from a slider release (a drag's last value, then the release) to the 3D view's next
   finished render showing the new result; median and p90. A release is not debounced (ui/controls.py:
   only the moves of a drag are), so there is no debounce in it.
3. Memory: RSS after N live results vs after N/10 (the camera feed, looping); a growing gap would
   be a leak.

Run under a display (the 3D view renders for real):
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m genhmr_app.bench.app_bench
    ... --frames 5000          # the long memory run
    ... --untrained            # a stand-in generator even when the trained one exists
Without a trained generator it uses a stand-in (session.stand_in_model_factory) and says so.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from genhmr_app.paths import shared_data_dir
from genhmr_app.settings import DEFAULT_ITERATIONS, DEFAULT_REFINE_STEPS


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_seconds(pid: int | str = "self") -> float:
    """CPU time (user + system, every thread) a process has used so far; NaN where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        from PySide6.QtWidgets import QApplication

        from genhmr_app.pipeline.session import CameraRef, CoreSession, default_model_factory, stand_in_model_factory
        from genhmr_app.settings import AppSettings
        from genhmr_app.ui.main_window import MainWindow

        self.args = args
        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        stand_in, stand_in_what = stand_in_model_factory()
        factory = stand_in if args.untrained else default_model_factory
        self.frames_bgr = _decode(args.video, args.camera_frames)
        self.camera_fps = args.camera_fps  # the replayed camera's rate for the next run
        capture = self.capture_factory
        self.session = CoreSession.create(device_preference=args.device, model_factory=factory, capture_factory=capture)
        if self.session.reconstructor() is None:
            print(f"note: {self.session.model_message}\n      → using a stand-in: {stand_in_what}.")
            self.session.close()
            self.session = CoreSession.create(device_preference=args.device, model_factory=stand_in,
                                              capture_factory=capture)
            self.session.reconstructor()
            self.weights = stand_in_what
        else:
            self.weights = stand_in_what if args.untrained else "trained tokenizer and generator (weights/)"
        self.window = MainWindow(settings=AppSettings(), session=self.session)
        # The live model process (pipeline/live_model.py) loads in the background; the figures are
        # for the steady state, so wait for it (until then live frames run in a thread of the window).
        self.session.prepare_live()
        self.window.show()
        self.window.show_camera_controls()  # as a user opens the camera page before pressing start
        self.live_process = self.session.live_process_ready(timeout_s=120)
        # A user looks at the camera page for a moment before pressing start: the window's queued work
        # (the live view's warm-up, MainWindow._warm_live_view) runs in that moment.
        self.wait(lambda: False, 1.0)
        # (time, summary) per shown result; never the result itself, which holds whole frames.
        self.shown_times: list[tuple[float, dict]] = []
        self.window.result_shown.connect(lambda r: self.shown_times.append((time.perf_counter(), {
            "live": bool(getattr(r.ref, "live", False)) or isinstance(r.ref, CameraRef), "index": r.frame.index,
            "captured": r.frame.captured_s, "timing": dict(r.timing_ms), "mesh": bool(r.views)})))
        self.render_ends: list[float] = []
        if self.window.mesh_view.available:  # a new 3D picture reaches the window (rendered on its thread)
            self.window.mesh_view.picture_ready.connect(lambda _scene: self.render_ends.append(time.perf_counter()))

    def capture_factory(self, target):
        """Camera indices get the paced replay of the video's frames; files open for real."""
        from genhmr_app.image.sources import ScriptedCapture, _cv2_capture

        if isinstance(target, int):
            return ScriptedCapture(self.frames_bgr, loop=True, fps=self.camera_fps, paced=True)
        return _cv2_capture(target)

    def wait(self, predicate, timeout_s: float, check_ms: int = 2) -> bool:
        from genhmr_app.ui.testing import run_until

        return run_until(predicate, timeout_s, check_ms=check_ms)

    def idle(self) -> bool:
        return self.wait(lambda: not self.window.runner.busy and not self.window.controls.pending(), 120)

    def open_video(self) -> None:
        """Each measurement can run alone (--skip the others), so each makes sure the video is open."""
        w = self.window
        if w.input.kind == "video" and w.input.path == self.args.video:
            return
        w.open_path(self.args.video)
        self.idle()
        if w.last_error:
            raise SystemExit(f"cannot open {self.args.video}: {w.last_error}")

    # -- 1. live playback ------------------------------------------------------------------------
    def playback(self, feed: str, camera_fps: float | None = None) -> dict:
        """`feed`: "camera" (the paced replay, at `camera_fps`, default --camera-fps) or "video" (the
        file playing in real time)."""
        self.camera_fps = camera_fps or self.args.camera_fps
        from genhmr_app.ui.testing import StallMeter

        w = self.window
        if feed == "video":
            self.open_video()
            start, stop, running = (lambda: w.set_playing(True)), (lambda: w.set_playing(False)), (lambda: w.playing)
            feed_fps = float(w.input.fps or 0.0)
        else:
            start, stop, running = (lambda: w.start_camera(0)), w.stop_camera, (lambda: w.camera_live)
            feed_fps = float(self.camera_fps)
        n_shown, n_render = len(self.shown_times), len(self.render_ends)
        cpu_before = cpu_seconds(), cpu_seconds(self.model_process_pid())
        meter = StallMeter(10)
        meter.start()
        t0 = time.perf_counter()
        start()
        # Checked every 20 ms: a 2 ms check woke the window's thread 500 times a second for nothing.
        self.wait(lambda: not running() or time.perf_counter() - t0 > self.args.seconds, self.args.seconds + 30,
                  check_ms=20)
        elapsed = time.perf_counter() - t0
        cpu_used = cpu_seconds() - cpu_before[0], cpu_seconds(self.model_process_pid()) - cpu_before[1]
        meter.stop()
        stop()
        self.idle()
        shown = [(t, r) for t, r in self.shown_times[n_shown:] if r["live"]]
        meshes = [(t, r) for t, r in shown if r["mesh"]]
        renders = self.render_ends[n_render:]
        latencies = []
        for t, r in meshes:
            done = next((e for e in renders if e >= t), None)
            if done is not None and r["captured"] > 0:
                latencies.append((done - r["captured"]) * 1000)
        indices = [r["index"] for _t, r in shown]
        stages = ("detect", "sample", "refine", "display", "total")
        timings = {k: statistics.median(r["timing"][k] for _t, r in meshes) for k in stages} if meshes else {}
        stream_stats = getattr(w, "last_stream_stats", {})
        mp_fps, mp_ms = self.mediapipe_alone(indices, feed)
        return {"feed": feed, "seconds": round(elapsed, 2), "results": len(shown), "meshes": len(meshes),
                "app_fps": round(len(meshes) / elapsed, 2),
                "frames_covered": (indices[-1] - indices[0] + 1) if indices else 0,
                "mediapipe_alone_fps": round(mp_fps, 2), "mediapipe_alone_ms_median": round(mp_ms, 1),
                "ratio_to_mediapipe": round(len(meshes) / elapsed / mp_fps, 2) if mp_fps == mp_fps else None,
                # The feed cannot give more than its own rate: no app, however fast, passes this ratio.
                "feed_fps": round(feed_fps, 2),
                "feed_bound_ratio": round(min(1.0, feed_fps / mp_fps), 2) if mp_fps == mp_fps and mp_fps > 0 else None,
                "latency_median_ms": round(statistics.median(latencies), 1) if latencies else None,
                "latency_p90_ms": round(_percentile(latencies, 90), 1) if latencies else None,
                "median_stage_ms": {k: round(v, 1) for k, v in timings.items()},
                "max_event_loop_stall_ms": round(meter.max_gap_ms, 1),
                "p99_event_loop_stall_ms": round(meter.percentile(99), 1),
                # Where the CPU goes (two cores: 2000 ms a second in all): the window's process (its
                # thread, capture, MediaPipe, the software GL) and the live model process, per mesh shown.
                "cpu_ms_per_mesh": {name: None if math.isnan(used) else round(used * 1000 / max(len(meshes), 1), 1)
                                    for name, used in zip(("window_process", "model_process"), cpu_used)},
                "cpu_cores_busy": round(float(np.nansum(cpu_used)) / elapsed, 2),
                **stream_stats}

    def mediapipe_alone(self, indices: list[int], feed: str) -> tuple[float, float]:
        """The detector on the same frames, same mode (VIDEO), decoding excluded."""
        from genhmr_app.detection import PoseDetector
        from genhmr_app.image.sources import VideoFileSource

        if not indices:
            return float("nan"), float("nan")
        if feed == "video":
            video = VideoFileSource(self.args.video)
            frames = [(video.read(i).rgb, video.timestamp_ms(i)) for i in indices]
            video.close()
        else:
            frames = [(np.ascontiguousarray(self.frames_bgr[i % len(self.frames_bgr)][..., ::-1]),
                       int(n * 1000 / self.camera_fps)) for n, i in enumerate(indices)]
        times = []
        with PoseDetector(mode="video") as det:
            for rgb, ts in frames:
                t = time.perf_counter()
                det.detect(rgb, timestamp_ms=ts)
                times.append((time.perf_counter() - t) * 1000)
        return 1000.0 / float(np.mean(times)), float(np.median(times))

    # -- 2. slider latency -------------------------------------------------------------------------
    def slider_latency(self) -> dict:
        w = self.window
        self.open_video()
        w.seek(min(100, w.input.frame_count - 1))
        self.idle()
        # Each slider moves one notch from the app's default and back.
        sliders = [(w.controls.iterations, (DEFAULT_ITERATIONS, DEFAULT_ITERATIONS + 1)),
                   (w.controls.temperature, (1.0, 0.8)),
                   (w.controls.refine_steps, (DEFAULT_REFINE_STEPS, DEFAULT_REFINE_STEPS + 1))]
        latencies, computes = [], []
        for trial in range(self.args.slider_trials):
            slider, values = sliders[trial % len(sliders)]
            value = values[(trial // len(sliders) + 1) % 2]
            n_shown, n_render = len(self.shown_times), len(self.render_ends)
            t0 = time.perf_counter()
            slider.setSliderDown(True)  # a drag's last value, then the release
            slider.setValue(value)
            slider.setSliderDown(False)
            ok = self.wait(lambda: len(self.shown_times) > n_shown, 120)
            if not ok:
                continue
            t_shown, result = self.shown_times[-1]
            if self.render_ends is not None and w.mesh_view.available:
                self.wait(lambda: any(t >= t_shown for t in self.render_ends[n_render:]), 10)
                t_done = next((t for t in self.render_ends[n_render:] if t >= t_shown), t_shown)
            else:
                t_done = t_shown
            latencies.append((t_done - t0) * 1000)
            computes.append(result["timing"]["total"])
            self.idle()
        return {"trials": len(latencies), "median_ms": round(statistics.median(latencies), 1),
                "p90_ms": round(_percentile(latencies, 90), 1),
                "median_compute_ms": round(statistics.median(computes), 1)}

    # -- 3. memory ---------------------------------------------------------------------------------
    def memory(self) -> dict:
        """The live path (the camera feed, looping) for N results; RSS at N/10 and at N; and the
        longest event-loop stall over the whole run (a long stream meets what a short one does not,
        such as Python's full garbage collections; the bench's own collections at the marks excluded)."""
        from genhmr_app.ui.testing import StallMeter

        w = self.window
        n = self.args.frames
        self.camera_fps = self.args.camera_fps
        marks: dict[int, float] = {}
        start = w.results_received
        t0 = time.perf_counter()
        longest = 0.0
        meter = StallMeter(10)
        meter.start()
        w.start_camera(0)
        for mark in sorted({max(n // 10, 1), n}):
            self.wait(lambda m=mark: w.results_received - start >= m or not w.camera_live, n * 2 + 60)
            meter.stop()
            longest = max(longest, meter.max_gap_ms)
            gc.collect()
            marks[mark] = rss_mb() + self.model_process_rss_mb()
            print(f"  memory run: {w.results_received - start}/{n} results, RSS {marks[mark]:.0f} MB "
                  f"(window and live model process)", flush=True)
            meter.start()
        meter.stop()
        elapsed = time.perf_counter() - t0
        w.stop_camera()
        self.idle()
        a, b = marks[max(n // 10, 1)], marks[n]
        return {"frames": n, "rss_mb_at_n_over_10": round(a, 1), "rss_mb_at_n": round(b, 1),
                "growth_mb": round(b - a, 1), "growth_percent": round(100 * (b - a) / a, 1),
                "results_per_s": round((w.results_received - start) / elapsed, 2),
                "max_event_loop_stall_ms": round(longest, 1)}

    def model_process_pid(self) -> int | str:
        proc = self.session._live_process
        return proc._process.pid if proc is not None and proc.ready else "none"

    def model_process_rss_mb(self) -> float:
        pid = self.model_process_pid()
        return 0.0 if pid == "none" else rss_mb(pid)

    def close(self) -> None:
        self.window.close()
        self.session.close()


def _decode(video: Path, count: int) -> list[np.ndarray]:
    """The first `count` frames (BGR, as a camera delivers them) for the replayed camera."""
    import cv2

    cap, frames = cv2.VideoCapture(str(video)), []
    while len(frames) < count:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    return frames


def main(argv: list[str] | None = None) -> int:
    default_video = shared_data_dir() / "images" / "videos" / "hybrik_taiji.mp4"
    ap = argparse.ArgumentParser(prog="app_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=default_video)
    ap.add_argument("--seconds", type=float, default=15.0, help="how long each feed plays for the FPS figures")
    ap.add_argument("--camera-fps", type=float, default=30.0, help="the replayed camera's frame rate")
    ap.add_argument("--capacity-fps", type=float, default=60.0,
                    help="a second camera run at this rate (0: none): a feed faster than the app, so that the "
                         "ratio to MediaPipe alone measures the app rather than the camera's own rate")
    ap.add_argument("--camera-frames", type=int, default=240, help="video frames the replayed camera loops over")
    ap.add_argument("--slider-trials", type=int, default=16)
    ap.add_argument("--frames", type=int, default=600, help="frames for the memory run (try 5000)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--untrained", action="store_true", help="an untrained stand-in generator instead of weights/")
    ap.add_argument("--skip", nargs="*", default=[], choices=["fps", "capacity", "video", "slider", "memory"])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    # A fresh window: neither the user's saved layout nor their settings file is read or written.
    import tempfile

    os.environ["GENHMR_SETTINGS"] = str(Path(tempfile.mkdtemp(prefix="genhmr-")) / "settings.json")
    if not args.video.exists():
        print(f"video not found: {args.video}", file=sys.stderr)
        return 2
    if not os.environ.get("DISPLAY"):
        print("note: no DISPLAY; the 3D view will not render (run under xvfb-run for real figures)")
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from genhmr_app.ui.app import one_torch_thread, prepare_qt_environment

    prepare_qt_environment()
    one_torch_thread()  # as the windows run (ui/app.py)
    bench = Bench(args)
    figures: dict = {"weights": bench.weights, "model": bench.session.model_name,
                     "device": bench.session.device_name, "body": bench.session.body_model_name,
                     "rss_mb_start": round(rss_mb(), 1)}
    print(f"GenHMR Studio app benchmark — model {figures['model']} [{bench.weights}], device {figures['device']}, "
          f"body {figures['body']}")
    try:
        runs = (("playback", "camera", args.camera_fps, "fps"), ("capacity", "camera", args.capacity_fps, "capacity"),
                ("video_file", "video", None, "video"))
        for key, feed, fps, skip_name in runs:
            if skip_name in args.skip or (key == "capacity" and not fps):
                continue
            label = f"camera {fps:g} fps" if feed == "camera" else "video file"
            figures[key] = p = bench.playback(feed, fps)
            print(f"{key:10}: [{label}] {p['app_fps']} mesh updates/s in the app ({p['meshes']} in {p['seconds']} s) "
                  f"vs MediaPipe alone {p['mediapipe_alone_fps']} FPS on the same frames ({p['ratio_to_mediapipe']}x; "
                  f"the feed's own {p['feed_fps']:g} fps bounds this at {p['feed_bound_ratio']}x); "
                  f"frame-to-screen latency median {p['latency_median_ms']} ms, p90 {p['latency_p90_ms']} ms; "
                  f"longest event-loop stall {p['max_event_loop_stall_ms']} ms (p99 {p['p99_event_loop_stall_ms']}); "
                  f"median stages {p['median_stage_ms']}; CPU per mesh (ms) {p['cpu_ms_per_mesh']}, "
                  f"{p['cpu_cores_busy']} cores busy; detections never modelled "
                  f"{p.get('detected_not_modelled', '?')} of {p.get('frames_detected', '?')}")
        if "slider" not in args.skip:
            figures["slider"] = s = bench.slider_latency()
            print(f"slider    : release → updated mesh median {s['median_ms']} ms, p90 {s['p90_ms']} ms "
                  f"({s['trials']} trials, no debounce on release; compute median "
                  f"{s['median_compute_ms']} ms)")
        if "memory" not in args.skip:
            figures["memory"] = m = bench.memory()
            print(f"memory    : RSS {m['rss_mb_at_n_over_10']} MB after {m['frames'] // 10} live results, "
                  f"{m['rss_mb_at_n']} MB after {m['frames']} (growth {m['growth_mb']} MB, {m['growth_percent']}%); "
                  f"{m['results_per_s']} results/s; "
                  f"longest event-loop stall over the run {m['max_event_loop_stall_ms']} ms")
    finally:
        bench.close()
    figures["targets"] = targets = issue_targets(figures)
    for name, t in targets.items():
        print(f"target    : {name} {t['value']} [{t['target']}] {'met' if t['met'] else 'NOT met'} ({t['from']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


# Issue 10's targets, each with the run it is read from.
TARGETS = (
    # (name, run, key, target text, test)
    ("mesh updates/s", "playback", "app_fps", ">= 25", lambda v: v >= 25.0),
    # A camera slower than MediaPipe bounds any app below the ratio (`feed_bound_ratio`): the ratio is
    # read from the camera faster than the app.
    ("ratio to MediaPipe alone", "capacity", "ratio_to_mediapipe", ">= 0.6", lambda v: v >= 0.6),
    ("latency p90 ms", "playback", "latency_p90_ms", "<= 120", lambda v: v <= 120.0),
    ("longest event-loop stall ms", "playback", "max_event_loop_stall_ms", "<= 50", lambda v: v <= 50.0),
    ("slider release p90 ms", "slider", "p90_ms", "<= 250", lambda v: v <= 250.0),
    ("memory growth %", "memory", "growth_percent", "within +-10", lambda v: abs(v) <= 10.0),
)


def issue_targets(figures: dict) -> dict:
    """Issue 10's targets for the runs that were made: value, target, met, and where it was read."""
    out = {}
    for name, run, key, text, test in TARGETS:
        if run in figures and key in figures[run]:
            value = figures[run][key]
            out[name] = {"value": value, "target": text, "met": bool(test(value)), "from": f"{run}.{key}"}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
