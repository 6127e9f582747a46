"""The Layers tab: every layer's output shape, parameters and MACs of the model on show.

The table follows the setup panel as the user changes it, before any training; opening a
run (or a fit ending with its saved weights) moves it to that run's network, until the
setup changes again. Its title names which it shows. The architecture is summarised on
the `meta` device by the engine (`summarize_arch`), off the GUI thread, a short while
after the last change, and only the newest request's answer is shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHeaderView, QLabel, QVBoxLayout, QWidget

from cnnstudio.errors import CnnStudioError, InputTooSmallError, describe
from cnnstudio.gui.format import format_compact, format_count
from cnnstudio.gui.state import StudioState, setup_caption
from cnnstudio.gui.text import plain
from cnnstudio.gui.widgets.image_grid import StackedPanel
from cnnstudio.gui.widgets.table_models import Column, record_table

__all__ = ["LayersTab", "layer_columns"]

#: How long the selection must stay still before the table is recomputed (ms): a user
#: scrolling through the architecture combo should not queue a summary per item.
DEBOUNCE_MS = 150


def _shape(shape: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in shape) if shape else "–"


def layer_columns() -> list[Column]:
    """The Layers table's columns over `inspect.summary.LayerInfo` records."""
    return [
        Column("Layer", lambda r: "    " * max(r.depth - 1, 0) + r.name, tooltip=lambda r: r.name),
        Column("Type", lambda r: r.type),
        Column("Output shape", lambda r: _shape(r.output_shape),
               sort_key=lambda r: _product(r.output_shape), numeric=True),
        Column("Parameters", lambda r: format_count(r.params) if r.params else "–",
               sort_key=lambda r: r.params, numeric=True),
        Column("MACs", lambda r: format_compact(r.macs) if r.macs else "–",
               sort_key=lambda r: r.macs, numeric=True,
               tooltip=lambda r: f"{format_count(r.macs)} multiply-accumulates per image"),
    ]


def _product(shape: tuple[int, ...]) -> int:
    result = 1
    for s in shape:
        result *= s
    return result


def _summarize(name: str, options: dict[str, Any], in_channels: int, num_classes: int, input_size: int) -> Any:
    """Background job: the engine's summary (torch is imported here, never at GUI start)."""
    from cnnstudio.inspect.summary import summarize_arch

    return summarize_arch(name, in_channels=in_channels, num_classes=num_classes, input_size=input_size, **options)


MACS_NOTE = ("MACs are multiply-accumulates per image, counting each bias addition as one (torchinfo's "
             "convention): VGG-16 at 224×224 is 15.48 G here, 15.47 G without the biases.")


class LayersTab(QWidget):
    """Layer table with totals for the chosen architecture, dataset and input size."""

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._summary: Any = None
        self._subject: tuple[str, dict[str, Any], int, int, int] | None = None  # what the table shows
        self.subject_label = ""  # its name for people: "setup: …, untrained" or the run's weights

        self._title = plain(QLabel())  # a run's name
        self._title.setObjectName("tabTitle")
        self._busy = plain(QLabel())
        self._busy.setObjectName("muted")

        self._model, self.table_view = record_table(layer_columns(), self)
        self.table_view.setWordWrap(False)
        self.table_view.verticalHeader().setDefaultSectionSize(22)
        header = self.table_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, self._model.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

        self._panel = StackedPanel(self.table_view, "Choose an architecture to see its layers.")

        self._totals = QLabel()
        self._totals.setTextFormat(Qt.TextFormat.RichText)  # bold total; only numbers in it (escape any name added)
        self._totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._totals.setWordWrap(True)

        # How the MACs are counted, said under the table: the papers' figures differ slightly.
        self.macs_note = plain(QLabel(MACS_NOTE))
        self.macs_note.setObjectName("hint")
        self.macs_note.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        top = QVBoxLayout()
        top.setSpacing(2)
        top.addWidget(self._title)
        top.addWidget(self._busy)
        layout.addLayout(top)
        layout.addWidget(self._panel, 1)
        layout.addWidget(self._totals)
        layout.addWidget(self.macs_note)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._request_summary)
        state.selection_changed.connect(self._on_selection_changed)
        state.model_changed.connect(self._on_model_changed)
        self._on_selection_changed()

    # ------------------------------------------------------------------ public view
    @property
    def summary(self) -> Any:
        """The `ModelSummary` on screen, or None (nothing computed yet, or an error shown)."""
        return self._summary

    @property
    def totals_text(self) -> str:
        """The totals line as shown (parameters, MACs, output)."""
        return self._totals.text()

    @property
    def message_text(self) -> str | None:
        """The message shown in place of the table, or None while the table is shown."""
        return None if self._panel.showing_content else self._panel.empty.text()

    # ------------------------------------------------------------------ updates
    def _on_selection_changed(self) -> None:
        state = self._state
        self._show_subject((state.arch_name, state.arch_options, state.in_channels, state.num_classes,
                            state.input_size), setup_caption(state))

    def _on_model_changed(self) -> None:
        handle = self._state.model_handle
        if handle is None or handle.run_dir is None or handle.config is None:
            return  # live weights have the setup's layers; only an opened run shows another network
        config = handle.config
        self._show_subject((config.arch, dict(config.arch_options), handle.in_channels, len(handle.spec.classes),
                            handle.input_size), handle.source)

    def _show_subject(self, subject: tuple[str, dict[str, Any], int, int, int], label: str) -> None:
        arch, _options, channels, classes, size = subject
        self._subject, self.subject_label = subject, label
        self._title.setText(
            f"{_arch_title(arch)} at {channels} × {size} × {size} → {format_count(classes)} classes  ·  {label}"
        )
        self._busy.setText("Computing shapes and parameters…")
        self._debounce.start()

    def _request_summary(self) -> None:
        if self._subject is None:
            return
        self._state.run_in_background(
            _summarize,
            *self._subject,
            on_done=self._on_summary,
            on_error=self._on_summary_failed,
            key=f"layers-tab-{id(self)}",
        )

    def _on_summary(self, summary: Any) -> None:
        self._busy.clear()
        self._summary = summary
        self._model.set_records(summary.layers)
        self._panel.show_content()
        self._totals.setText(
            # GoogLeNet: "main network + aux heads = total", as the command line says it.
            f"<b>Total params: {summary.params_text()}</b> ({format_compact(summary.total_params)})"
            f" &nbsp;·&nbsp; trainable {format_count(summary.trainable_params)}"
            f" &nbsp;·&nbsp; {format_compact(summary.total_macs)} MACs per image"
            f" &nbsp;·&nbsp; {len(summary.layers)} modules"
            f" &nbsp;·&nbsp; output {_shape(summary.output_shape)}"
        )

    def _on_summary_failed(self, exc: BaseException) -> None:
        self._busy.clear()
        self._summary = None
        self._model.set_records([])
        self._totals.clear()
        if isinstance(exc, CnnStudioError):
            # The engine's message says what is wrong ("needs at least 32×32 pixels").
            hint = "Choose a larger input size in the setup panel, or another architecture."
            self._panel.show_empty(f"{exc}\n\n{hint}" if isinstance(exc, InputTooSmallError) else str(exc))
        else:
            self._panel.show_empty(f"Could not build this architecture: {exc}")
            self._state.report("error", describe(exc, doing="Layers"))


def _arch_title(name: str) -> str:
    """The catalog's title for `name` (torch-free), or the name itself when unknown."""
    from cnnstudio.models.catalog import get_info

    try:
        return get_info(name).title
    except CnnStudioError:
        return name
