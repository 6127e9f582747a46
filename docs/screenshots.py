"""Take the README's screenshots by driving the real app offscreen: a short LeNet-5 training
on mnist-sample, then every tab. Run: `.venv/bin/python docs/screenshots.py`.

Runs and settings go to a temporary folder, so your own runs are untouched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
OUT = HERE / "screenshots"
TMP = Path(tempfile.mkdtemp(prefix="cnnstudio-shots-"))
os.environ["CNNSTUDIO_RUNS"] = str(TMP / "runs")

from PIL import Image  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait_until(app: QApplication, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def settle(app: QApplication, seconds: float = 0.6) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def draw(app: QApplication, pad, strokes) -> None:
    """Draw strokes on a drawing pad with the mouse, as a hand would (points: fractions of the pad)."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    side = min(pad.width(), pad.height())
    left, top = (pad.width() - side) // 2, (pad.height() - side) // 2
    for stroke in strokes:
        points = [QPoint(left + int(x * side), top + int(y * side)) for x, y in stroke]
        QTest.mousePress(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
        for a, b in zip(points, points[1:]):
            for t in (0.25, 0.5, 0.75, 1.0):
                QTest.mouseMove(pad, QPoint(round(a.x() + t * (b.x() - a.x())), round(a.y() + t * (b.y() - a.y()))))
                settle(app, 0.02)
        QTest.mouseRelease(pad, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[-1])


def shoot_data_and_pad(app: QApplication, window) -> None:
    """The Data tab (the sample through crops and fancy PCA) and a 7 drawn on the Classify tab's pad."""
    data = window.data_tab
    window.tabs.setCurrentWidget(data)
    wait_until(app, lambda: len(data.example_rows()) == 10, timeout=120)
    for name in ("crop", "pca"):
        data.augment_boxes[name].setChecked(True)
    settle(app, 1.5)
    window.grab().save(str(OUT / "data.png"))

    classify = window.classify_tab
    window.tabs.setCurrentWidget(classify)
    classify.show_drawing(True)
    settle(app)
    panel = classify.draw_panel
    draw(app, panel.pad, [[(0.22, 0.2), (0.5, 0.19), (0.76, 0.2), (0.62, 0.5), (0.5, 0.84)],
                          [(0.42, 0.5), (0.75, 0.5)]])
    wait_until(app, lambda: len(panel.topk_rows()) == 5 and not panel._busy, timeout=60)
    panel.explain_button.click()
    wait_until(app, lambda: bool(panel.detail_view.top5()), timeout=120)
    settle(app, 1.5)
    window.grab().save(str(OUT / "draw.png"))
    classify.show_drawing(False)


def main() -> int:
    QCoreApplication.setOrganizationName("cnnstudio-screenshots")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(TMP / "settings"))
    app = QApplication(sys.argv[:1])
    from cnnstudio.gui.main_window import TAB_TITLES, MainWindow
    from cnnstudio.gui.style import apply_style

    apply_style(app)
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    wait_until(app, lambda: window.state.torch_ready)
    panel = window.setup_panel
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    panel.epochs_spin.setValue(3)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    finished: list[object] = []
    window.session.finished.connect(lambda result, error: finished.append((result, error)))
    window.start_training()
    wait_until(app, lambda: bool(finished), timeout=600)
    settle(app)
    OUT.mkdir(exist_ok=True)
    window.grab().save(str(OUT / "training.png"))

    # Validation digits of three classes written as files, and a fourth as if drawn black
    # on white in a paint program (the tab inverts it for this MNIST model), dropped on the
    # Classify tab; the drawn one is shown.
    from cnnstudio.data.loaders import load_dataset

    bundle = load_dataset("mnist-sample")
    labels = bundle.val.labels.tolist()
    paths = []
    for digit in (2, 5, 7, 4):
        i = labels.index(digit)
        image = Image.fromarray(bundle.val.images[i, 0].numpy())
        if digit == 4:
            image = Image.eval(image.resize((280, 280), Image.Resampling.BICUBIC), lambda v: 255 - v)
            path = TMP / "four_drawn_black_on_white.png"
        else:
            path = TMP / f"digit_{digit}.png"
        image.save(path)
        paths.append(str(path))
    classify = window.classify_tab
    window.tabs.setCurrentWidget(classify)
    classify.classify_paths(paths)
    wait_until(app, lambda: classify.results() and all(r is not None for r in classify.results()))
    classify.select_row(3)
    settle(app)
    window.grab().save(str(OUT / "classify.png"))

    shoot_data_and_pad(app, window)

    for title in ("Layers", "Feature maps"):
        window.tabs.setCurrentIndex(TAB_TITLES.index(title))
        settle(app, 1.5)
        window.grab().save(str(OUT / f"{title.lower().replace(' ', '_')}.png"))

    # Kernels: the run's history on the strip, at the end of epoch 1 (the marker on its curves).
    kernels = window.kernels_tab
    window.tabs.setCurrentWidget(kernels)
    wait_until(app, lambda: kernels.history is not None, timeout=60)
    kernels.history_strip.seek_x(1.0)
    settle(app, 1.5)
    window.grab().save(str(OUT / "kernels.png"))

    # Evaluate: the run's best weights on its own validation split, the biggest confusion's
    # images, the first of them explained.
    evaluate = window.evaluate_tab
    window.tabs.setCurrentWidget(evaluate)
    evaluate.evaluate()
    wait_until(app, lambda: evaluate.evaluation is not None, timeout=120)
    wait_until(app, lambda: bool(evaluate.cell_images()), timeout=60)
    evaluate.open_image(0)
    wait_until(app, lambda: bool(evaluate.detail.top5()), timeout=60)
    evaluate.detail.neighbours_button.click()
    wait_until(app, lambda: evaluate.detail.neighbours_view.count() > 0, timeout=120)
    settle(app, 1.5)
    window.grab().save(str(OUT / "evaluate.png"))

    # Features: what each class looks like to the network just trained (its ten class images).
    features = window.features_tab
    window.tabs.setCurrentWidget(features)
    features.render()
    wait_until(app, lambda: features.dream is not None, timeout=300)
    settle(app)
    window.grab().save(str(OUT / "features.png"))

    # The queue: three variants of the same LeNet-5 queued from the form and run one after
    # another (shot while the second trains), then compared in the Runs tab, smoothed.
    base = panel.config()
    queue = window.queue_panel
    for options in ({"activation": "relu", "pool": "max"}, {"activation": "sigmoid"}, {"activation": "relu"}):
        queue.add_config(base.replace(arch_options={**base.arch_options, **options}))
    queue.toggle_run()
    def done() -> int:
        return sum(queue.runner.status(item).state == "done" for item in queue.runner.queue.items)

    wait_until(app, lambda: queue.runner.current is not None and done() >= 1, timeout=600)
    window.tabs.setCurrentWidget(window.training_tab)
    settle(app, 3)
    window.grab().save(str(OUT / "queue.png"))
    wait_until(app, lambda: done() == 3 and not window.session.active, timeout=900)
    runs = window.runs_tab
    window.tabs.setCurrentWidget(runs)
    runs.refresh()
    wait_until(app, lambda: not runs.reading and len(runs.runs()) == 4, timeout=60)
    first = min(runs.runs(), key=lambda r: r.created)
    runs.set_baseline(first.path)
    runs.select_runs([r.path for r in runs.runs()])
    settle(app, 2)
    window.grab().save(str(OUT / "runs.png"))
    window.close()
    print(f"screenshots written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
