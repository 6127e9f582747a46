"""The Tricks study dialog: the width of the tricks CNN for the eight runs, with what they cost.

The notes' net (width 1) has 95 M parameters and takes minutes an epoch of the sample on a
CPU; at width 0.25 (16-32-64-128-256-256 channels) an epoch takes seconds. The dialog asks
for the width and measures the BatchNorm baseline at it in the background (the engine's
estimate, as the form's Estimate button does), so the choice is made knowing the time.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import Cancelled, CnnStudioError, describe
from cnnstudio.gui.state import Job, StudioState
from cnnstudio.gui.text import plain
from cnnstudio.training.config import TrainConfig

__all__ = ["StudyDialog", "STUDY_WIDTH"]

STUDY_WIDTH = 0.25  # what the dialog offers first: the study in minutes on a CPU
_DEBOUNCE_MS = 400  # a new estimate once the width has stopped changing this long


def _measure_study(config: TrainConfig, *, progress: Any, cancel: Any) -> tuple[int, Any]:
    """Background job: the baseline's parameters and the engine's estimate of its training."""
    from cnnstudio.inspect.summary import summarize_arch
    from cnnstudio.training.fit.estimate import estimate_training
    from cnnstudio.training.fit.training_data import load_training_data

    bundle = load_training_data(config, download=False, cancel=cancel)
    from cnnstudio.training.input_size import config_input_size

    spec = bundle.spec
    size = config_input_size(config, fallback_native=spec.native_size).size
    params = summarize_arch(config.arch, in_channels=spec.channels, num_classes=len(spec.classes),
                            input_size=size, **config.arch_options).total_params
    return params, estimate_training(config, bundle=bundle, progress=progress, cancel=cancel)


class StudyDialog(QDialog):
    """Asks for the study's width (`width()` once accepted) and shows the estimate beside it."""

    def __init__(self, state: StudioState, base: TrainConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tricks study")
        self._state = state
        self._base = base
        self._job: Job | None = None
        layout = QVBoxLayout(self)
        intro = plain(QLabel(
            "The notes' eight runs of the tricks CNN on this dataset, each for "
            f"{base.epochs} epoch{'s' if base.epochs != 1 else ''}. Width multiplies every layer's channels: "
            "1 is the notes' net (64-128-256-512-1024-1024, 95 M parameters, minutes an epoch on a CPU), "
            "0.25 gives 16-32-64-128-256-256 and teaches the same lesson in seconds an epoch."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.width_spin = QDoubleSpinBox()
        self.width_spin.setRange(0.05, 2.0)
        self.width_spin.setDecimals(2)
        self.width_spin.setSingleStep(0.05)
        start = base.arch_options.get("width", STUDY_WIDTH) if base.arch == "tricks" else STUDY_WIDTH
        self.width_spin.setValue(float(start))  # type: ignore[arg-type]
        form.addRow("Width", self.width_spin)
        self.estimate_label = plain(QLabel())
        self.estimate_label.setObjectName("hint")
        self.estimate_label.setWordWrap(True)
        form.addRow("Estimate", self.estimate_label)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Queue the 8 runs")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_DEBOUNCE_MS)
        self._timer.timeout.connect(self.estimate)
        self.width_spin.valueChanged.connect(self._on_width_changed)
        self.measured_width: float | None = None  # the width the label's estimate is for
        self._measuring = self.width()

    def width(self) -> float:  # type: ignore[override]
        """The chosen channel multiplier."""
        return round(float(self.width_spin.value()), 4)

    def baseline(self) -> TrainConfig:
        """The study's BatchNorm baseline at the chosen width (what the estimate measures)."""
        from cnnstudio.training.experiments.sweep import BASELINE, tricks_study

        return next(run.config for run in tricks_study(self._base, width=self.width()) if run.label == BASELINE)

    def _on_width_changed(self) -> None:
        self._cancel()
        self.estimate_label.setText("…")
        self._timer.start()

    def estimate(self) -> None:
        """Measure the baseline at the chosen width in the background."""
        self._cancel()
        try:
            config = self.baseline()
        except CnnStudioError as exc:
            self._show(str(exc), warning=True)
            return
        self._measuring = width = self.width()
        self._show(f"Measuring a few training steps at width {width:g}…", warning=False)
        # Bound methods: a closed and deleted dialog receives nothing (StudioState drops it).
        self._job = self._state.run_in_background(
            _measure_study, config, on_done=self._on_measured, on_error=self._on_failed,
            on_progress=self._on_progress, key=f"study-estimate-{id(self)}")

    def _on_progress(self, done: int, total: int) -> None:
        pass  # the label already says it is measuring; a step count would flicker

    def _on_measured(self, result: tuple[int, Any]) -> None:
        self._job = None
        width = self._measuring
        params, estimate = result
        from cnnstudio.training.fit.estimate import format_duration

        total = 8 * estimate.total_s
        text = (f"{params / 1e6:.1f} M parameters; the baseline: {estimate.sentence}. The eight runs "
                f"≈ {format_duration(total)} (the two-3×3 and multi-scale ones a little longer)")
        self.measured_width = width
        self._show(text + (f". {estimate.warning}" if estimate.warning else ""), warning=bool(estimate.warning))

    def _on_failed(self, exc: BaseException) -> None:
        self._job = None
        if not isinstance(exc, Cancelled):
            self._show(describe(exc), warning=True)

    def _show(self, text: str, *, warning: bool) -> None:
        self.estimate_label.setObjectName("inlineError" if warning else "hint")
        self.estimate_label.style().unpolish(self.estimate_label)
        self.estimate_label.style().polish(self.estimate_label)
        self.estimate_label.setText(text)

    def _cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def done(self, code: int) -> None:  # noqa: D102 - however it closes, a running estimate stops
        self._timer.stop()
        self._cancel()
        super().done(code)
