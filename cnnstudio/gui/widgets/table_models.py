"""Qt table models over the engine's records (layer summaries, run lists).

The engine returns plain records (`LayerInfo`, `RunInfo`); these models only render
them, so the same facts the command line prints appear in the app, formatted for people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QTableView, QWidget

from cnnstudio.gui.text import tooltip

__all__ = ["SORT_ROLE", "Column", "RecordTableModel"]

#: The role a `QSortFilterProxyModel` sorts by (`proxy.setSortRole(SORT_ROLE)`): numbers
#: sort as numbers, not as their formatted text.
SORT_ROLE = Qt.ItemDataRole.UserRole + 1

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column:
    """One column: its header, how to show a record's value, and how to sort by it."""

    title: str
    text: Callable[[Any], str]
    sort_key: Callable[[Any], Any] | None = None
    numeric: bool = False  # right-aligned so digits line up
    tooltip: Callable[[Any], str] | None = None
    decoration: Callable[[Any], Any] | None = None  # a QColor (a swatch before the text) or None


class RecordTableModel(QAbstractTableModel):
    """A read-only table of records, one per row, described by a list of `Column`s."""

    def __init__(self, columns: Sequence[Column], parent: Any = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._records: list[Any] = []

    @property
    def records(self) -> list[Any]:
        """The records shown, in row order."""
        return list(self._records)

    def set_records(self, records: Sequence[Any]) -> None:
        """Replace every row."""
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def replace_records(self, records: Sequence[Any]) -> None:
        """New values for the same rows (as many, in the same order): the view keeps its
        selection and scroll position, which a reset would lose."""
        if len(records) != len(self._records):
            raise ValueError("replace_records needs as many records as there are rows; use set_records")
        self._records = list(records)
        self.refresh_values()

    def refresh_values(self) -> None:
        """Tell the views that every cell's value may have changed (not the rows)."""
        if self._records:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._records) - 1, len(self._columns) - 1))

    def record(self, row: int) -> Any:
        """The record behind `row`."""
        return self._records[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = self._columns[index.column()]
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(record)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and column.decoration is not None:
            return column.decoration(record)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return tooltip(column.tooltip(record))  # paths and names: shown as typed
        if role == Qt.ItemDataRole.UserRole:
            return record
        if role == SORT_ROLE:
            return column.sort_key(record) if column.sort_key is not None else column.text(record)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal:
            if role == Qt.ItemDataRole.DisplayRole:
                return self._columns[section].title
            if role == Qt.ItemDataRole.TextAlignmentRole and self._columns[section].numeric:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return str(section + 1)
        return None


def record_table(columns: Sequence[Column], parent: QWidget, *,
                 proxy: QSortFilterProxyModel | None = None) -> tuple[RecordTableModel, QTableView]:
    """A read-only, row-selecting table of records, sortable by clicking a header.

    Rows keep the order they were given in (network order, newest run first) until a
    header is clicked. `proxy` is a filtering proxy of the caller's (default: sorting only).
    """
    model = RecordTableModel(columns, parent)
    proxy = proxy if proxy is not None else QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    return model, view
