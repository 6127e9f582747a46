"""The Kernels tab: the first convolution layer's kernels as a picture (AlexNet's Figure 3).

With a model (the live snapshot at each epoch end, or an opened run) the learned kernels
are shown; before that, the freshly initialised kernels of the chosen architecture, with
a caption saying they are untrained, so the tab is never blank and the change training
makes is visible.

When the model on show has a history (`ModelHandle.history_dir`: an opened run, or the fit
training now), a `HistoryStrip` above the grid scrubs its snapshots: the whole kernel
history is loaded once in the background (small: 0.3 MB for VGG-16's 77 snapshots) and
every slider move draws its frame at once, all frames on one scale unless "per-frame
contrast" is ticked. A live run's history is listed again at each epoch end.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnstudio.errors import CnnStudioError, describe
from cnnstudio.gui.state import StudioState, setup_caption
from cnnstudio.gui.text import plain
from cnnstudio.gui.inspection.history_strip import HistoryStrip, load_curves
from cnnstudio.gui.widgets.image_grid import ImageView, StackedPanel

__all__ = ["KernelsTab"]

EMPTY_TEXT = "Train or open a run to see learned kernels."
DEBOUNCE_MS = 150


def _for_display(grid: np.ndarray, conv_name: str, weight_shape: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """The engine's H×W×3 grid (grey as H×W unless the input is RGB) and a line describing it."""
    out_ch, in_ch, kh, kw = weight_shape
    colour = "colour" if in_ch == 3 else ("grey" if in_ch == 1 else f"{in_ch} input channels averaged to grey")
    if in_ch != 3:
        grid = grid[..., 0]  # the three channels are equal: show true grey pixels
    return grid, f"layer {conv_name or 'conv'} · {out_ch} kernels of {kh} × {kw} · {colour}"


def _learned_kernels(model: Any) -> tuple[np.ndarray, str]:
    """Background job: the model's first conv layer as a grid, and a description of it."""
    from cnnstudio.inspect.kernels import first_conv, first_layer_kernels

    conv_name, conv = first_conv(model)
    return _for_display(first_layer_kernels(model), conv_name, tuple(conv.weight.shape))


def _kernel_history(run_dir: str) -> tuple[Any, tuple[Any, ...]] | None:
    """Background job: the run's kernel history and curves (None when it has no history)."""
    from cnnstudio.inspect.history import KernelHistory, NoHistoryError

    try:
        history = KernelHistory.load(run_dir)
    except NoHistoryError:
        return None
    return history, load_curves(run_dir)


def _untrained_kernels(name: str, options: dict[str, Any], in_channels: int, num_classes: int) -> tuple[np.ndarray, str]:
    """Background job: freshly initialised first-layer kernels of a registry architecture.

    The network is built on the `meta` device (no memory, instant even for VGG-19) and
    only its first conv layer is given real weights, drawn from PyTorch's default
    initialisation with a private generator: the training thread's RNG is never touched,
    and the picture does not flicker between identical selections.
    """
    import math

    import torch
    from torch import nn

    from cnnstudio.inspect.kernels import first_conv, first_layer_kernels
    from cnnstudio.models.registry import build_model

    with torch.device("meta"):
        model = build_model(name, in_channels=in_channels, num_classes=num_classes, **options)
    conv_name, conv = first_conv(model)
    conv = conv.to_empty(device="cpu")
    nn.init.kaiming_uniform_(conv.weight, a=math.sqrt(5), generator=torch.Generator().manual_seed(0))
    return _for_display(first_layer_kernels(conv), conv_name, tuple(conv.weight.shape))


class KernelsTab(QWidget):
    """First-layer kernel grid of the current model (or the untrained selection)."""

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._key = f"kernels-tab-{id(self)}"
        self._stale = False  # a refresh was skipped while the tab was hidden
        self._history: Any = None  # the KernelHistory on the strip (inspect.history), or None
        self._learned: tuple[np.ndarray, str, str] | None = None  # the model's own grid, detail and caption
        # Live weights are newer than any snapshot: they stay on show, beside the strip, until
        # the slider is moved (then its frames are shown).
        self._live_on_show = False
        self._placing_strip = False  # set_history's own first frame is not a move of the slider

        self._caption = plain(QLabel())  # a run's name
        self._caption.setObjectName("tabTitle")
        self._detail = plain(QLabel())
        self._detail.setWordWrap(True)
        self._view = ImageView()
        self._panel = StackedPanel(self._view, EMPTY_TEXT)
        self.history_strip = HistoryStrip(state)
        self.history_strip.setVisible(False)
        self.history_strip.frame_changed.connect(self._show_frame)
        self.history_strip.contrast_changed.connect(lambda _on: self._show_frame(self.history_strip.index))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(6)
        layout.addWidget(self._caption)
        layout.addWidget(self._detail)
        layout.addWidget(self.history_strip)
        layout.addWidget(self._panel, 1)

        # Selection changes arrive in bursts while the user browses; only the last counts.
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._refresh)
        state.model_changed.connect(self._refresh)
        state.selection_changed.connect(self._on_selection_changed)
        self._refresh()

    @property
    def image(self) -> np.ndarray | None:
        """The kernel grid on screen: H×W×3 for colour input, H×W for grey; None when empty."""
        return self._view.image if self._panel.showing_content else None

    @property
    def caption(self) -> str:
        """The caption above the grid (what the kernels are: learned from what, or untrained)."""
        return self._caption.text()

    def _on_selection_changed(self) -> None:
        if self._state.model_handle is None:
            self._debounce.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self._refresh()

    def _refresh(self) -> None:
        # A hidden tab only notes that it is out of date: redrawing kernels at every epoch
        # end while nobody looks would take CPU from the training.
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        handle = self._state.model_handle
        if handle is not None:
            self._live_on_show = handle.run_dir is None
            shown = handle.describe()
            self._state.run_in_background(
                _learned_kernels, handle.model,
                on_done=lambda result: self._show(result, f"Learned kernels · {shown}"),
                on_error=self._on_failed, key=self._key,
            )
            if handle.history_dir is not None:
                run_dir, epoch = handle.history_dir, handle.epoch
                self._state.run_in_background(
                    _kernel_history, run_dir, on_done=lambda found: self._on_history(run_dir, epoch, found),
                    on_error=self._on_history_failed, key=f"{self._key}-history")
            else:
                self._drop_history()
            return
        self._drop_history()
        state = self._state
        setup = setup_caption(state)
        self._state.run_in_background(
            _untrained_kernels, state.arch_name, state.arch_options, state.in_channels, state.num_classes,
            on_done=lambda result: self._show(
                result, f"Untrained kernels (random initial weights) · {setup} — train or open a run to see "
                        "learned ones"),
            on_error=self._on_failed, key=self._key,
        )

    def _show(self, result: tuple[np.ndarray, str], caption: str) -> None:
        grid, detail = result
        self._learned = (grid, detail, caption)
        if self._history is not None and not self._live_on_show:
            return  # the strip's frame is on show
        self._show_learned()

    def _show_learned(self) -> None:
        if self._learned is None:
            return
        grid, detail, caption = self._learned
        self._caption.setText(caption)
        self._detail.setText(detail)
        self._view.set_image(grid)
        self._view.set_scale("its lowest", "its highest", title="each kernel")
        self._panel.show_content()

    # ------------------------------------------------------------------ history
    @property
    def history(self) -> Any:
        """The `inspect.history.KernelHistory` on the strip, or None."""
        return self._history

    def _on_history(self, run_dir: str, epoch: int | None, found: tuple[Any, tuple[Any, ...]] | None) -> None:
        if found is None:
            self._drop_history()
            return
        history, curves = found
        select = None
        if self._history is None or str(self._history.run_dir) != run_dir:
            # A newly shown run: start where its weights on show are from (best.pt's epoch), else its end.
            ends = [i for i, s in enumerate(history.snapshots) if s.epoch_end and s.epoch == epoch]
            select = ends[0] if ends else len(history) - 1
        self._history = history
        self.history_strip.setVisible(True)
        self._placing_strip = True
        try:
            self.history_strip.set_history(run_dir, history.snapshots, curves, select=select)
        finally:
            self._placing_strip = False

    def _on_history_failed(self, exc: BaseException) -> None:
        self._drop_history()
        self._state.report("warning", describe(exc, doing="Kernel history"))

    def _drop_history(self) -> None:
        if self._history is None:
            return
        self._history = None
        self.history_strip.setVisible(False)
        self._show_learned()

    def _show_frame(self, index: int) -> None:
        history = self._history
        if history is None or not 0 <= index < len(history):
            return
        if self._live_on_show and self._placing_strip:
            return  # the live kernels stay until the slider is moved
        self._live_on_show = False
        contrast = self.history_strip.per_frame_contrast
        frame = history.frame(index, per_frame_contrast=contrast)
        snap = history.snapshots[index]
        out_ch, in_ch = history.kernels[index].shape[:2]
        if in_ch != 3:
            frame = frame[..., 0]
        scale = "each frame on its own scale" if contrast else f"one scale for all frames (|w| ≤ {history.scale:.3g})"
        self._caption.setText(f"Kernels across training · run {history.run_dir.name}")
        self._detail.setText(f"layer {snap.kernel_layer} at {snap.label} · {out_ch} kernels · {scale} · "
                             "grey is 0, lighter positive")
        self._view.set_image(frame)
        if contrast:
            self._view.set_scale("its lowest", "its highest", title="each kernel")
        else:
            self._view.set_scale(f"−{history.scale:.3g}", f"+{history.scale:.3g}", middle="0", title="weight")
        self._panel.show_content()

    def _on_failed(self, exc: BaseException) -> None:
        self._caption.clear()
        self._detail.clear()
        self._view.clear()
        if isinstance(exc, CnnStudioError):
            self._panel.show_empty(f"{exc}\n\n{EMPTY_TEXT}")
        else:
            self._panel.show_empty(EMPTY_TEXT)
            self._state.report("error", describe(exc, doing="Kernels"))
