"""The inspection tabs, each a `QWidget` built as `Tab(state, parent=None)` — Dynamics, Data,
Layers, Graph, Kernels, Feature maps, Features, Classify, Evaluate — and what only they share
(`image_detail`, `history_strip`, `topk_view`, `drawing_pad`). No tab imports another tab
(an import-linter contract); the main window connects them."""
