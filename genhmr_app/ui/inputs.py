"""What the user has open (an image, a folder, a video, a camera) and how far they are in it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from genhmr_app.pipeline.session import CameraRef, FrameRef, ImageRef, VideoRef


@dataclass
class InputState:
    kind: str | None = None  # "image", "folder", "video", "camera" or None (nothing open)
    path: Path | None = None  # the image, video or folder
    folder: list[Path] = field(default_factory=list)
    folder_index: int = 0
    frame_index: int = 0
    frame_count: int = 1
    fps: float = 25.0
    camera: int = 0

    def ref(self, live: bool = False) -> FrameRef | None:
        if self.kind == "image" and self.path is not None:
            return ImageRef(self.path)
        if self.kind == "folder" and self.folder:
            return ImageRef(self.folder[self.folder_index])
        if self.kind == "video" and self.path is not None:
            return VideoRef(self.path, self.frame_index, live)
        if self.kind == "camera":
            return CameraRef(self.camera)
        return None

    def copy(self) -> InputState:
        return replace(self, folder=list(self.folder))

    @property
    def display_name(self) -> str:
        if self.kind == "folder" and self.folder:
            return self.folder[self.folder_index].name
        if self.kind == "camera":
            return f"Camera {self.camera}"
        return self.path.name if self.path is not None else ""
