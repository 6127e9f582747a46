"""The inspection tabs of the main window, each a `QWidget` built as `Tab(state, parent=None)`.

- `data_tab.DataTab` — the chosen dataset before training: counts per split, examples, augmentations, unusable files
- `layers_tab.LayersTab` — every layer's output shape, parameters and MACs for the current choice
- `kernels_tab.KernelsTab` — the first conv layer's kernels as a picture
- `feature_maps_tab.FeatureMapsTab` — a conv layer's activation maps for one image
- `classify_tab.ClassifyTab` — top-5 for dropped or opened image files (`classify_paths`)
- `runs_tab.RunsTab` — past runs compared (sort, filter, overlaid smoothed curves, CSV/PNG), opened, resumed, revealed
- `compare_chart.CompareChart` — the Runs tab's overlaid curves: TensorBoard smoothing, epoch or time axis

Shared pieces: `image_grid` (image view, empty states), `table_models` (record tables).
Modules here import only Qt and pyqtgraph at import time; the engine (and torch) is
imported inside the background jobs, so the window paints before torch has loaded.
"""
