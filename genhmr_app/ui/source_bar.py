"""Controls for the current input under the image: a video timeline, a folder's thumbnail strip, or
the camera picker. Widgets only; the main window decides what a request means."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QStackedWidget,
    QWidget,
)


def _format_time(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m)}:{s:05.2f}"


class VideoBar(QWidget):
    play_toggled = Signal(bool)
    seek_requested = Signal(int)
    step_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        self.back_button = QPushButton("◀▮")
        self.back_button.setToolTip("Previous frame (,)")
        self.play_button = QPushButton("▶ Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play / pause (Space)")
        self.forward_button = QPushButton("▮▶")
        self.forward_button.setToolTip("Next frame (.)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("timeline")
        self.label = QLabel("–")
        self.label.setMinimumWidth(170)
        for w in (self.back_button, self.play_button, self.forward_button):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keep Space for the window's play shortcut
            row.addWidget(w)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self.back_button.clicked.connect(lambda: self.step_requested.emit(-1))
        self.forward_button.clicked.connect(lambda: self.step_requested.emit(1))
        self.play_button.toggled.connect(self._on_play)
        self.slider.valueChanged.connect(self.seek_requested.emit)
        self.frame_count, self.fps = 1, 25.0

    def _on_play(self, on: bool) -> None:
        self.play_button.setText("⏸ Pause" if on else "▶ Play")
        self.play_toggled.emit(on)

    def set_video(self, frame_count: int, fps: float) -> None:
        self.frame_count, self.fps = max(frame_count, 1), fps
        self.slider.blockSignals(True)
        self.slider.setRange(0, self.frame_count - 1)
        self.slider.setPageStep(max(int(fps), 1))
        self.slider.blockSignals(False)

    def set_position(self, index: int) -> None:
        """Programmatic: does not emit seek_requested."""
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.label.setText(f"frame {index + 1} / {self.frame_count}  ·  {_format_time(index / self.fps)}")

    def set_playing(self, playing: bool) -> None:
        self.play_button.blockSignals(True)
        self.play_button.setChecked(playing)
        self.play_button.setText("⏸ Pause" if playing else "▶ Play")
        self.play_button.blockSignals(False)


class FolderBar(QWidget):
    index_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip("Previous image (Page Up)")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next image (Page Down)")
        self.strip = QListWidget()
        self.strip.setObjectName("thumbnails")
        self.strip.setViewMode(QListView.ViewMode.IconMode)
        self.strip.setFlow(QListView.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(72, 72))
        self.strip.setFixedHeight(112)
        self.strip.setMovement(QListView.Movement.Static)
        self.strip.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        for w in (self.prev_button, self.next_button):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            w.setFixedWidth(32)
        row.addWidget(self.prev_button)
        row.addWidget(self.strip, 1)
        row.addWidget(self.next_button)
        self.prev_button.clicked.connect(lambda: self.index_requested.emit(self.current() - 1))
        self.next_button.clicked.connect(lambda: self.index_requested.emit(self.current() + 1))
        self.strip.currentRowChanged.connect(lambda r: self.index_requested.emit(r) if r >= 0 else None)

    def set_paths(self, paths: list[Path]) -> None:
        self.strip.blockSignals(True)
        self.strip.clear()
        for p in paths:
            item = QListWidgetItem(p.name)
            item.setToolTip(str(p))
            item.setSizeHint(QSize(96, 104))
            self.strip.addItem(item)
        self.strip.blockSignals(False)

    def set_thumbnail(self, index: int, image: QImage) -> None:
        item = self.strip.item(index)
        if item is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def current(self) -> int:
        return self.strip.currentRow()

    def set_current(self, index: int) -> None:
        self.strip.blockSignals(True)
        self.strip.setCurrentRow(index)
        self.strip.blockSignals(False)
        item = self.strip.item(index)
        if item is not None:
            self.strip.scrollToItem(item)


class CameraBar(QWidget):
    start_requested = Signal(int)
    stop_requested = Signal()
    refresh_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        self.devices = QComboBox()
        self.devices.setObjectName("camera_devices")
        self.devices.setMinimumWidth(120)
        self.refresh_button = QPushButton("Find cameras")
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("camera_start")
        self.message = QLabel("")
        self.message.setObjectName("camera_message")
        self.message.setWordWrap(True)
        row.addWidget(QLabel("Camera:"))
        row.addWidget(self.devices)
        row.addWidget(self.refresh_button)
        row.addWidget(self.start_button)
        row.addWidget(self.message, 1)
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        self.start_button.clicked.connect(self._on_start)
        self.live = False
        self.set_devices([])

    def set_devices(self, devices: list[int]) -> None:
        current = self.device()
        self.devices.clear()
        for d in devices:
            self.devices.addItem(f"Camera {d}", d)
        if not devices:
            # Still offer index 0: some drivers only open on the first real request.
            self.devices.addItem("Camera 0 (not detected)", 0)
        index = self.devices.findData(current)
        self.devices.setCurrentIndex(max(index, 0))

    def device(self) -> int:
        data = self.devices.currentData()
        return int(data) if data is not None else 0

    def _on_start(self) -> None:
        if self.live:
            self.stop_requested.emit()
        else:
            self.start_requested.emit(self.device())

    def set_live(self, live: bool) -> None:
        self.live = live
        self.start_button.setText("Stop" if live else "Start")
        self.devices.setEnabled(not live)

    def set_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #ff8080;" if error else "")


class SourceBar(QStackedWidget):
    """One page per input kind; hidden for a single image."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.video = VideoBar()
        self.folder = FolderBar()
        self.camera = CameraBar()
        self._pages = {"video": self.video, "folder": self.folder, "camera": self.camera}
        for page in self._pages.values():
            self.addWidget(page)
        self.setVisible(False)

    def show_page(self, kind: str | None) -> None:
        page = self._pages.get(kind or "")
        self.setVisible(page is not None)
        if page is not None:
            self.setCurrentWidget(page)
            self.setFixedHeight(page.sizeHint().height() if kind != "folder" else 120)

    def page(self) -> str | None:
        if self.isHidden():
            return None
        return next(k for k, w in self._pages.items() if w is self.currentWidget())
