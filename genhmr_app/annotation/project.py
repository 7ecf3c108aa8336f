"""An annotation project: a folder of images or a video, and per frame the pose result, the user's
edits and a review state. Stored as one JSON file that is never left half-written and never
silently overwritten.

Saving (ProjectStore.save, called after every edit: autosave):
1. the JSON goes to a temporary file in the same folder, flushed and fsync'd;
2. the file on disk is checked against what this session last read or wrote: if someone else changed
   it, nothing is overwritten: our version goes beside it (`<name>.conflict-<time>.genhmr.json`) and
   ProjectConflict says so;
3. the current file is kept as the newest rolling backup (`<name>.bak1` … `.bak3`, oldest dropped);
4. the temporary file is renamed over the project (atomic) and the folder fsync'd.
A crash at any moment leaves the previous complete file or the new complete file.

Loading: a damaged file is kept (`<name>.damaged-<time>`) and the newest readable backup is loaded,
with a notice; a file from a newer version is refused with a clear message; missing media are
reported so the user can point to their new place. A lock file marks a running session: found with
its process gone, it means the last session crashed, and the window offers its recovery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMAT = "genhmr-annotation-project"
VERSION = 1
STATES = ("unreviewed", "accepted", "corrected", "rejected")
BACKUPS = 3
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


class ProjectError(Exception):
    """The project cannot be opened or created (message for the user)."""


class ProjectSaveError(ProjectError):
    """The project could not be written; the edits stay in memory and the next save tries again."""


class ProjectConflict(ProjectSaveError):
    """The file changed on disk since this session read it; ours was written beside it."""

    def __init__(self, message: str, saved_as: Path) -> None:
        super().__init__(message)
        self.saved_as = saved_as


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class FrameAnnotation:
    key: str  # an image's path relative to the media folder, or "frame_000123" of a video
    state: str = "unreviewed"
    state_changed: str | None = None
    # The person's result (SMPL, axis-angle, camera frame); None until pre-annotated or edited.
    smpl: dict | None = None  # global_orient (3), body_pose (69), betas (10), transl (3)
    tokens: list[int] | None = None
    token_confidence: list[float] | None = None
    detection: dict | None = None  # keypoints_px (33×2), visibility (33), bbox, width, height, focal_px
    pins: dict[str, list[float]] = field(default_factory=dict)  # MediaPipe keypoint index → [x, y] px
    ignored: list[int] = field(default_factory=list)  # keypoints marked wrong or hidden
    locks: list[int] = field(default_factory=list)  # locked token indices
    provenance: dict = field(default_factory=dict)  # source (model/edited/copied), model, times, edits
    note: str = ""
    model_result: dict | None = None  # the model's own result (smpl, tokens, confidence): "reset" returns to it

    @property
    def uncertainty(self) -> float:
        """1 - mean token confidence: the review queue shows the least confident first."""
        if not self.token_confidence:
            return 1.0 if self.smpl is None else 0.5  # the regressor gives no confidence
        return 1.0 - sum(self.token_confidence) / len(self.token_confidence)

    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"review state must be one of {STATES}")
        self.state, self.state_changed = state, now()


@dataclass
class Project:
    media: str  # folder or video, absolute or relative to the project file
    kind: str  # "images" or "video"
    frames: list[FrameAnnotation]
    created: str = field(default_factory=now)
    modified: str = field(default_factory=now)
    edits: int = 0  # count of saved edits, for the "what was recovered" message

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def for_media(cls, media: Path) -> Project:
        media = Path(media)
        if media.is_dir():
            from genhmr_app.image.loading import list_images

            images = list_images(media)
            if not images:
                raise ProjectError(f"{media} has no images to annotate")
            return cls(str(media.resolve()), "images", [FrameAnnotation(p.relative_to(media).as_posix()) for p in images])
        if media.is_file() and media.suffix.lower() in VIDEO_SUFFIXES:
            import cv2

            cap = cv2.VideoCapture(str(media))
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            cap.release()
            if count <= 0:
                raise ProjectError(f"{media} cannot be read as a video")
            return cls(str(media.resolve()), "video", [FrameAnnotation(f"frame_{i:06d}") for i in range(count)])
        if not media.exists():
            raise ProjectError(f"{media} does not exist")
        raise ProjectError(f"{media} is neither a folder of images nor a video")

    def media_path(self, project_file: Path) -> Path:
        p = Path(self.media)
        return p if p.is_absolute() else (project_file.parent / p)

    def counts(self) -> dict[str, int]:
        return {s: sum(f.state == s for f in self.frames) for s in STATES}

    # -- (de)serialising ---------------------------------------------------------------------
    def to_json(self) -> str:
        data = {"format": FORMAT, "version": VERSION, **asdict(self)}
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Project:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a GenHMR annotation project")
        version = data.get("version")
        if not isinstance(version, int):
            raise ValueError("the project has no version")
        if version > VERSION:
            raise NewerVersion(version)
        frames = [FrameAnnotation(**f) for f in data["frames"]]
        for f in frames:
            if f.state not in STATES:
                raise ValueError(f"unknown review state {f.state!r}")
        return cls(data["media"], data["kind"], frames, data.get("created", now()), data.get("modified", now()),
                   int(data.get("edits", 0)))


class NewerVersion(ValueError):
    def __init__(self, version: int) -> None:
        super().__init__(f"version {version}")
        self.version = version


def _signature(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def backup_paths(path: Path) -> list[Path]:
    """Newest first."""
    return [path.with_name(f"{path.name}.bak{i}") for i in range(1, BACKUPS + 1)]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class OpenedProject:
    project: Project
    notices: list[str]  # what the user should be told (backup loaded, media missing, …)
    media_missing: bool
    crashed_session: bool  # the last session ended without closing the project


class ProjectStore:
    """Reads and writes one project file; remembers what it last saw there, to notice other writers."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._seen: str | None = None
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")

    # -- opening -----------------------------------------------------------------------------
    def create(self, project: Project) -> None:
        if self.path.exists():
            raise ProjectError(f"{self.path} already exists; open it instead")
        self.save(project)

    def open(self) -> OpenedProject:
        notices: list[str] = []
        try:
            text = self.path.read_text()
        except FileNotFoundError as exc:
            raise ProjectError(f"the project file {self.path} does not exist") from exc
        except OSError as exc:
            raise ProjectError(f"cannot read the project file {self.path}: {exc.strerror or exc}") from exc
        try:
            project = Project.from_json(text)
            self._seen = hashlib.sha256(text.encode()).hexdigest()
        except NewerVersion as exc:
            raise ProjectError(f"{self.path.name} was written by a newer GenHMR Studio (project format "
                               f"{exc.version}; this version reads up to {VERSION}). Update the app to open it; "
                               f"the file was left untouched.") from exc
        except (ValueError, TypeError, KeyError) as exc:
            project = self._recover_from_backup(exc, notices)
        crashed = self._stale_lock()
        if crashed:
            notices.append(f"The last session on this project did not close properly. Every edit up to its last "
                           f"autosave ({project.modified}) is here.")
        media = project.media_path(self.path)
        missing = not media.exists()
        if missing:
            notices.append(f"The media of this project are not at {media} any more (moved or deleted). Point to "
                           f"their new place to see the images; the annotations are kept.")
        return OpenedProject(project, notices, missing, crashed)

    def _recover_from_backup(self, error: Exception, notices: list[str]) -> Project:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        damaged = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        shutil.copy2(self.path, damaged)
        for backup in backup_paths(self.path):
            try:
                text = backup.read_text()
                project = Project.from_json(text)
            except (OSError, ValueError, TypeError, KeyError):
                continue
            notices.append(f"The project file was damaged ({error}); it is kept as {damaged.name}, and the backup "
                           f"{backup.name} (saved {project.modified}) was loaded instead.")
            self._seen = _signature(self.path)  # our next save replaces the damaged file (kept above)
            return project
        raise ProjectError(f"the project file {self.path.name} is damaged ({error}) and no readable backup was "
                           f"found; the damaged file is kept as {damaged.name}")

    # -- the session lock ----------------------------------------------------------------------
    def _stale_lock(self) -> bool:
        try:
            pid = int(self.lock_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False  # another running session (the window warns before editing)

    def acquire(self) -> None:
        try:
            self.lock_path.write_text(f"{os.getpid()} {now()}\n")
        except OSError:
            pass  # a read-only folder: saving will say so

    def release(self) -> None:
        try:
            if self.lock_path.read_text().split()[0] == str(os.getpid()):
                self.lock_path.unlink()
        except (OSError, IndexError):
            pass

    # -- saving ------------------------------------------------------------------------------
    def save(self, project: Project, on_writing: Callable[[], None] | None = None) -> None:
        """Atomic, durable, with a rolling backup; refuses to overwrite someone else's change.
        `on_writing` is told once the temporary file holds the text, before fsync and rename."""
        project.modified = now()
        text = project.to_json()
        folder = self.path.parent
        tmp = folder / f".{self.path.name}.{os.getpid()}.tmp"
        try:
            with tmp.open("w") as fh:
                fh.write(text)
                fh.flush()
                if on_writing is not None:
                    on_writing()
                os.fsync(fh.fileno())
            on_disk = _signature(self.path)
            if on_disk is not None and self._seen is not None and on_disk != self._seen:
                stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                aside = self.path.with_name(f"{self.path.stem}.conflict-{stamp}{self.path.suffix}")
                os.replace(tmp, aside)
                raise ProjectConflict(f"{self.path.name} was changed by someone else since it was opened; it was not "
                                      f"overwritten. Your version is saved as {aside.name}.", aside)
            if on_disk is not None:
                self._rotate_backups()
            os.replace(tmp, self.path)
            _fsync_dir(folder)
        except ProjectConflict:
            raise
        except OSError as exc:
            reason = "the disk is full" if exc.errno == 28 else (exc.strerror or str(exc))
            raise ProjectSaveError(f"could not save {self.path.name}: {reason}. Your edits are kept in the window; "
                                   f"the next edit tries again (or save elsewhere).") from exc
        finally:
            tmp.unlink(missing_ok=True)
        self._seen = hashlib.sha256(text.encode()).hexdigest()

    def _rotate_backups(self) -> None:
        backups = backup_paths(self.path)
        for older, newer in zip(reversed(backups[1:]), reversed(backups[:-1])):
            if newer.exists():
                os.replace(newer, older)
        # A hard link keeps the current file's content under the backup name at once (atomic, no copy);
        # the rename that follows gives the project name to the new content.
        link = backups[0].with_name(f".{backups[0].name}.tmp")
        link.unlink(missing_ok=True)
        try:
            os.link(self.path, link)
        except OSError:
            shutil.copy2(self.path, link)
        os.replace(link, backups[0])
