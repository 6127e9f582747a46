"""Widgets any view may use: image views and empty states (`image_grid`), record tables
(`table_models`), colour bars (`colour_bar`), whole-epoch axes (`epoch_axis`), and the wheel
guard that keeps a scrolling form from being edited by the wheel (`wheel_guard`).

Modules here import only Qt and pyqtgraph at import time; the engine (and torch) is imported
inside the background jobs, so the window paints before torch has loaded.
"""
