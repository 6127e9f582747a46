"""Benchmark sections that need the real window: (a) GUI overhead, (c) responsiveness, (d) drop-to-top-5,
(l) the Evaluate tab's and (o) the compare view's event-loop lateness.

They run in the benchmark's own process with the app's `MainWindow` shown offscreen and
train through its real path: the setup panel's config, `MainWindow.start_training`, the
`TrainingSession`/`TrainingWorker` on a `QThread`, signals into the Training tab's
live plots. While a fit runs the GUI thread sits in a `QEventLoop`, as it does in the app.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication

from cnnstudio.gui.training.training_tab import REDRAW_INTERVAL_MS
from cnnstudio.threads import default_threads
from cnnstudio.training.config import TrainConfig
from engine_figures import ReadyBatches, bare_step, epoch_rate, place
from timing import Figure, Section, in_fresh_thread, median, percentile, time_calls

__all__ = ["LatencyProbe", "classify_latency", "compare_responsiveness", "evaluate_responsiveness", "gui_overhead", "open_window",
           "responsiveness"]

PROBE_INTERVAL_MS = 10


def wait_until(predicate: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Run the event loop until `predicate()` holds; RuntimeError naming `what` after `timeout_s`."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)


def open_window() -> Any:
    """The app's main window, shown (offscreen) and sized as on a laptop, with PyTorch loaded."""
    from cnnstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    wait_until(lambda: window.state.torch_ready, timeout_s=120, what="the window's PyTorch import")
    wait_until(lambda: not window.state.busy(), timeout_s=60, what="the window's background work")
    return window


def close_window(window: Any) -> None:
    """Close the window the way the app does (nothing is training by then)."""
    window.state.wait_for_background()
    if window.error_box is not None:
        window.error_box.close()
    window.close()
    window.deleteLater()
    QApplication.instance().processEvents()


class LatencyProbe(QObject):
    """A 10 ms precise QTimer in the GUI thread; each tick records how late it came."""

    def __init__(self) -> None:
        super().__init__()
        self.late_s: list[float] = []
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PROBE_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Start probing (forgets earlier ticks)."""
        self.late_s, self._last = [], None
        self._timer.start()

    def stop(self) -> None:
        """Stop probing."""
        self._timer.stop()

    @Slot()
    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.late_s.append(max(0.0, now - self._last - PROBE_INTERVAL_MS / 1000))
        self._last = now

    def summary(self) -> dict[str, float]:
        """p50 / p99 / max lateness in milliseconds, and the number of ticks."""
        ms = [1000 * v for v in self.late_s]
        return {"p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": max(ms, default=float("nan")),
                "ticks": len(ms)}


class _FitWatcher(QObject):
    """Collects one GUI fit's signals from the window's training session, in the GUI thread."""

    def __init__(self, window: Any) -> None:
        super().__init__()
        self.window = window
        self.epochs: list[Any] = []
        self.progress = 0
        self.result: Any = None
        self.error: Any = None
        self.done = False
        self.on_started: Callable[[], None] | None = None
        ctl = window.session
        ctl.started.connect(self._on_started)
        ctl.progress.connect(self._on_progress)
        ctl.epoch_finished.connect(self._on_epoch)
        ctl.finished.connect(self._on_finished)

    def disconnect_all(self) -> None:
        """Stop listening (the window lives on for the next fit)."""
        ctl = self.window.session
        ctl.started.disconnect(self._on_started)
        ctl.progress.disconnect(self._on_progress)
        ctl.epoch_finished.disconnect(self._on_epoch)
        ctl.finished.disconnect(self._on_finished)

    @Slot(object)
    def _on_started(self, _info: Any) -> None:
        if self.on_started is not None:
            self.on_started()

    @Slot(object)
    def _on_progress(self, _bundle: Any) -> None:
        self.progress += 1

    @Slot(object)
    def _on_epoch(self, stats: Any) -> None:
        self.epochs.append(stats)

    @Slot(object, object)
    def _on_finished(self, result: Any, error: Any) -> None:
        self.result, self.error, self.done = result, error, True


def gui_fit(window: Any, config: TrainConfig, *, timeout_s: float, stop_after_s: float | None = None,
            probe: LatencyProbe | None = None) -> dict[str, Any]:
    """Train `config` through the window (panel → Start → worker thread → live plots).

    Returns the epochs' stats, the GUI thread's CPU seconds and wall seconds of the fit,
    and the probe's lateness when a probe is given (probing from the `started` signal on).
    With `stop_after_s`, Stop is pressed that long after training started.
    """
    watcher = _FitWatcher(window)
    loop = QEventLoop()
    window.session.finished.connect(loop.quit)
    stopper = QTimer()
    stopper.setSingleShot(True)
    stopper.timeout.connect(window.stop_training)

    def started() -> None:
        if probe is not None:
            probe.start()
        if stop_after_s is not None:
            stopper.start(int(1000 * stop_after_s))

    watcher.on_started = started
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(window.stop_training)
    guard.start(int(1000 * timeout_s))
    window.setup_panel.apply_config(config)
    gui_cpu, wall = time.thread_time(), time.perf_counter()
    window.start_training()
    if not window.session.active:
        watcher.disconnect_all()
        raise RuntimeError(f"the window did not start training {config.arch} (status: {window.status_label.text()})")
    loop.exec()
    gui_cpu, wall = time.thread_time() - gui_cpu, time.perf_counter() - wall
    guard.stop()
    stopper.stop()
    if probe is not None:
        probe.stop()
    window.session.finished.disconnect(loop.quit)
    watcher.disconnect_all()
    if watcher.error is not None:
        raise RuntimeError(f"the GUI fit of {config.arch} failed: {watcher.error!r}")
    return {"epochs": watcher.epochs, "gui_cpu_s": gui_cpu, "wall_s": wall, "progress_signals": watcher.progress}


# ---------------------------------------------------------------------------- (a)


def _bare_epochs(config: TrainConfig, device: torch.device, epochs: int) -> list[float]:
    """Images/s of each epoch of a bare loop: same model, same (preprocessed) data, same batch size."""
    from cnnstudio.data.loaders import load_dataset
    from cnnstudio.models.registry import build_model

    bundle = load_dataset(config.dataset, val_fraction=config.val_fraction, seed=config.seed)
    spec = bundle.spec
    # The ideal data path: every image converted once, batches are index_select of ready tensors.
    batches = ReadyBatches(bundle.train.images, bundle.train.labels, spec, size=int(config.input_size),
                           batch_size=config.batch_size, device=device)
    torch.manual_seed(config.seed)
    model = place(build_model(config.arch, in_channels=spec.channels, num_classes=len(spec.classes),
                              **config.arch_options), device)
    step = bare_step(model, device, aux_weight=config.aux_weight)
    return [epoch_rate(batches, device, step, max_batches=len(bundle.train)) for _ in range(epochs)]


def _headless_epochs(config: TrainConfig, run_dir: Path) -> list[float]:
    """Images/s of each epoch of the engine's `Trainer` with no callbacks and no window."""
    from cnnstudio.training.fit.trainer import Trainer

    trainer = Trainer(config, run_dir=run_dir)
    trainer.fit()
    return [row["images_per_s"] for row in trainer.history]


def gui_overhead(window: Any, *, device: torch.device, quick: bool, runs_dir: Path) -> Section:
    """(a) The app's training throughput ÷ a bare PyTorch loop's (lenet5 on mnist-sample, batch 128)."""
    epochs, rounds = (3, 1) if quick else (6, 5)
    config = TrainConfig(arch="lenet5", dataset="mnist-sample", input_size=32, epochs=epochs, batch_size=128,
                         device=str(device) if device.type != "cuda" else f"cuda:{device.index or 0}")
    section = Section("a", f"GUI overhead: {config.arch} on {config.dataset}, batch {config.batch_size}, "
                           f"{epochs} epochs (first dropped as warm-up), {rounds} rounds; median of per-round ratios")
    variants = ("bare", "headless", "gui", "gui_probed")
    rates: list[dict[str, list[float]]] = []  # per round: each variant's epochs
    gui_cpu_share, probes = [], []
    probe = LatencyProbe()
    for r in range(rounds):  # interleaved, so drift in the machine hits every variant alike
        round_rates: dict[str, list[float]] = {}
        # Each in a thread of its own that then exits, like the app's training thread.
        round_rates["bare"] = in_fresh_thread(_bare_epochs, config, device, epochs)[1:]
        round_rates["headless"] = in_fresh_thread(_headless_epochs, config, runs_dir / f"a-headless-{r}")[1:]
        fit = gui_fit(window, config, timeout_s=300)
        round_rates["gui"] = [s.images_per_s for s in fit["epochs"]][1:]
        gui_cpu_share.append(fit["gui_cpu_s"] / fit["wall_s"])
        # The lateness probe wakes the GUI thread 100 times a second, which costs the fit
        # throughput on 2 cores: it gets a fit of its own, left out of the ratio.
        fit = gui_fit(window, config, timeout_s=300, probe=probe)
        round_rates["gui_probed"] = [s.images_per_s for s in fit["epochs"]][1:]
        probes.append(probe.summary())
        rates.append(round_rates)
    # Ratios are taken within each round, seconds apart, then the median over rounds: this
    # machine's speed drifts by more than the effect measured over a whole run.
    med = {v: median([x for round_rates in rates for x in round_rates[v]]) for v in variants}
    per_round = {v: [median(rr[v]) / median(rr["bare"]) for rr in rates] for v in variants}
    ratio = median(per_round["gui"])
    section.raw = {"images_per_s_per_round": rates, "ratio_to_bare_per_round": per_round,
                   "gui_thread_cpu_share": gui_cpu_share,
                   "redraw_interval_ms": REDRAW_INTERVAL_MS, "gui_latency_during_fit": probes,
                   "torch_threads": default_threads(), "config": config.to_dict()}
    section.figures += [
        Figure("a.ratio", "app training ÷ bare PyTorch loop (throughput)", ratio, "×", "≥ 0.95", ratio >= 0.95,
               f"{med['gui']:,.0f} vs {med['bare']:,.0f} img/s; rounds " + _spread(per_round["gui"])),
        Figure("a.headless", "engine Trainer, no window ÷ bare loop", median(per_round["headless"]), "×",
               detail=f"{med['headless']:,.0f} img/s; rounds " + _spread(per_round["headless"])),
        Figure("a.gui_cpu", "GUI thread CPU while training (share of one core)", 100 * median(gui_cpu_share), "%",
               detail=f"figures refreshed every {REDRAW_INTERVAL_MS} ms"),
        Figure("a.latency_max", "event-loop lateness during a fit, max (epoch ends included)",
               max(p["max_ms"] for p in probes), "ms",
               detail="p99 " + ", ".join(f"{p['p99_ms']:.1f}" for p in probes) + " ms; that fit, with the "
               f"probe's 100 wake-ups/s: {median(per_round['gui_probed']):.2f}× the bare loop"),
    ]
    return section


def _spread(values: list[float]) -> str:
    """'0.91–0.98': the lowest and highest of per-round ratios."""
    return f"{min(values):.2f}–{max(values):.2f}"


# ---------------------------------------------------------------------------- (c)


def responsiveness(window: Any, *, device: torch.device, quick: bool) -> Section:
    """(c) Event-loop lateness (10 ms QTimer) while the window trains vgg11 with BatchNorm at 32×32."""
    seconds = 6.0 if quick else 15.0
    config = TrainConfig(arch="vgg11", arch_options={"batch_norm": True}, dataset="mnist-sample", input_size=32,
                         epochs=1, batch_size=128,
                         device=str(device) if device.type != "cuda" else f"cuda:{device.index or 0}")
    section = Section("c", f"responsiveness: 10 ms QTimer probe while training vgg11+BN at 32×32 "
                           f"(batch {config.batch_size}), {seconds:.0f} s then Stop (last.pt saved)")
    probe = LatencyProbe()
    fit = gui_fit(window, config, timeout_s=seconds + 240, stop_after_s=seconds, probe=probe)
    s = probe.summary()
    section.raw = {**s, "gui_thread_cpu_s": fit["gui_cpu_s"], "wall_s": fit["wall_s"],
                   "progress_signals": fit["progress_signals"], "late_ms": [round(1000 * v, 2) for v in probe.late_s]}
    section.figures += [
        Figure("c.p50", "event-loop lateness p50", s["p50_ms"], "ms"),
        Figure("c.p99", "event-loop lateness p99", s["p99_ms"], "ms", "≤ 30 ms", s["p99_ms"] <= 30),
        Figure("c.max", "event-loop lateness max", s["max_ms"], "ms", "≤ 100 ms", s["max_ms"] <= 100,
               f"{s['ticks']} ticks"),
    ]
    return section


# ---------------------------------------------------------------------------- (d)


def _test_image(folder: Path, side: int = 224) -> Path:
    """A photo-like JPEG (smooth gradients plus texture) of `side`×`side` pixels."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rgb = np.stack([xx, yy, 0.5 + 0.5 * np.sin(6 * xx * yy)], axis=-1) * 200
    rgb += rng.normal(0, 12, rgb.shape)
    path = folder / "drop.jpg"
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def classify_latency(window: Any, *, quick: bool, folder: Path,
                     names: tuple[str, ...] = ("lenet5", "alexnet", "googlenet", "vgg16")) -> Section:
    """(d) Drop-to-top-5 through the Classify tab (decode, transform, forward, display) vs a bare forward.

    Measured in pairs, a bare forward then a drop, and reported as the median of the pairs'
    differences: on a shared 2-core machine VGG-16's forward alone swings by ±20 ms from one
    second to the next, more than the overhead measured.
    """
    from cnnstudio.data.images import image_to_tensor, load_image
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.data.transforms import to_model_input
    from cnnstudio.gui.state import ModelHandle
    from cnnstudio.models.catalog import get_info
    from cnnstudio.models.registry import build_model

    pairs = 3 if quick else 10
    section = Section("d", f"drop-to-top-5 on the CPU, one {224}² JPEG, median of {pairs} (bare forward, drop) "
                           "pairs (Classify tab: decode, transform, forward, top-5 shown)")
    path = _test_image(folder)
    tab = window.classify_tab
    window.tabs.setCurrentWidget(tab)
    state = window.state
    imagenet = DatasetSpec("imagenet-like", 3, tuple(f"class {i}" for i in range(1000)),
                           (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 224)
    digits = DatasetSpec("mnist-like", 1, tuple(str(i) for i in range(10)), (0.1307,), (0.3081,), 28)
    for name in names:
        spec = digits if name == "lenet5" else imagenet
        size = get_info(name).default_size

        def build(name: str = name, spec: Any = spec) -> Any:
            torch.manual_seed(0)
            return build_model(name, in_channels=spec.channels, num_classes=len(spec.classes)).eval()

        model = in_fresh_thread(build)
        x = in_fresh_thread(lambda spec=spec, size=size: to_model_input(
            image_to_tensor(load_image(path), spec.channels), spec, input_size=size, in_channels=spec.channels))

        def bare_forward(model: Any = model, x: Any = x) -> float:
            # A script's `model(x)` on the decoded, transformed image, in a fresh thread with
            # PyTorch's default thread count, as the Classify tab's job runs.
            with torch.no_grad():  # grad mode is per thread
                return time_calls(lambda: model(x), repeats=1, warmup=0)[0]

        state.model_handle = ModelHandle(model, spec, size, spec.channels, source="benchmark", arch_name=name)
        # A new model makes other tabs (kernels, layers) work in the background: let them finish first.
        wait_until(lambda: not state.busy(), timeout_s=120, what="the tabs' work on a new model")
        in_fresh_thread(bare_forward)  # warm-up: first-call costs
        _drop(tab, state, path, name)
        bare, drops = [], []
        for _ in range(pairs):
            bare.append(in_fresh_thread(bare_forward))
            drops.append(_drop(tab, state, path, name))
            rows = tab.topk_rows()
            if len(rows) != min(5, len(spec.classes)):
                raise RuntimeError(f"the Classify tab shows {len(rows)} rows for {name}, expected 5")
        gap = 1000 * median([d - b for d, b in zip(drops, bare)])
        b, d = 1000 * median(bare), 1000 * median(drops)
        section.raw[name] = {"bare_forward_ms": [1000 * v for v in bare], "drop_to_top5_ms": [1000 * v for v in drops],
                             "input_size": size}
        section.figures.append(Figure(f"d.{name}", f"{name}: drop-to-top-5 minus bare forward", gap, "ms",
                                      "≤ 15 ms", gap <= 15, f"medians {d:.1f} vs {b:.1f} ms"))
        state.model_handle = None
        del model
    return section


def _drop(tab: Any, state: Any, path: Path, name: str) -> float:
    """Seconds from handing `path` to the Classify tab (what a drop calls) to its top-5 painted."""
    # The GUI thread idles in an event loop, as in the app: polling would steal a core from the forward.
    loop = QEventLoop()
    tab.classified.connect(loop.quit)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(loop.quit)
    guard.start(60_000)
    started = time.perf_counter()
    tab.classify_paths([str(path)])
    loop.exec()
    QApplication.instance().processEvents()  # the top-5 rows paint
    seconds = time.perf_counter() - started
    guard.stop()
    tab.classified.disconnect(loop.quit)
    if not guard.remainingTime() and not tab.results()[0]:
        raise RuntimeError(f"no top-5 for {name} within 60 s")
    # A person drops one file at a time: let what a drop starts elsewhere (feature maps) finish.
    wait_until(lambda: not state.busy(), timeout_s=120, what="the tabs' work after a drop")
    return seconds


# ---------------------------------------------------------------------------- (l)


def evaluate_responsiveness(window: Any, *, quick: bool) -> Section:
    """(l) Event-loop lateness while the Evaluate tab evaluates (background job) and then
    explains images of a confusion cell with Grad-CAM, feature maps and the top-5."""
    from cnnstudio.gui.state import ModelHandle
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.fit.training_data import load_training_data

    config = TrainConfig(arch="vgg11", arch_options={"batch_norm": True}, dataset="mnist-sample", input_size=32,
                         epochs=1, device="cpu")
    bundle = load_training_data(config)
    torch.manual_seed(0)
    model = build_model("vgg11", in_channels=1, num_classes=10, batch_norm=True).eval()
    window.state.model_handle = ModelHandle(model, bundle.spec, 32, 1, source="benchmark weights", arch_name="vgg11",
                                            config=config)
    tab = window.evaluate_tab
    window.tabs.setCurrentWidget(tab)
    tta = "tencrop" if quick else "multiscale+tencrop"
    tab.tta_combo.setCurrentIndex(tab.tta_combo.findData(tta))
    section = Section("l", f"responsiveness of the Evaluate tab: 10 ms QTimer probe while it evaluates vgg11+BN "
                           f"at 32×32 on mnist-sample's 500 validation digits ({tta}), then explains images")
    probe = LatencyProbe()
    probe.start()
    started = time.perf_counter()
    tab.evaluate()
    wait_until(lambda: tab.evaluation is not None and not tab.running, timeout_s=900, what="the evaluation")
    evaluation_s = time.perf_counter() - started
    probe.stop()
    during_eval = probe.summary()
    wait_until(lambda: bool(tab.cell_images()), timeout_s=120, what="a cell's images")
    probe.start()
    shown = min(3 if quick else 6, len(tab.cell_images()))
    for row in range(shown):
        tab.open_image(row)
        wait_until(lambda: bool(tab.detail.top5()) and tab.detail.maps_view.image is not None, timeout_s=120,
                   what="an explanation")
    probe.stop()
    during_cam = probe.summary()
    section.raw = {"evaluation": during_eval, "explanations": during_cam, "evaluation_s": evaluation_s,
                   "explained_images": shown}
    section.figures += [
        Figure("l.eval_p99", "event-loop lateness p99 while evaluating", during_eval["p99_ms"], "ms", "≤ 30 ms",
               during_eval["p99_ms"] <= 30, f"{during_eval['ticks']} ticks over {evaluation_s:.1f} s"),
        Figure("l.cam_p99", "event-loop lateness p99 while explaining (Grad-CAM, maps, top-5)", during_cam["p99_ms"],
               "ms", "≤ 30 ms", during_cam["p99_ms"] <= 30, f"{shown} images, {during_cam['ticks']} ticks"),
    ]
    return section


def _write_compare_runs(root: Path, count: int, epochs: int) -> list[Path]:
    """`count` finished lenet5 runs with `epochs` noisy epochs each, written with the engine's
    own `RunWriter` (config, spec, metrics lines, a last.pt that holds them, run.json)."""
    import itertools

    import numpy as np

    from cnnstudio.data.catalog import get_info
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.training.records import EpochStats
    from cnnstudio.training.store.runs import RunWriter

    info = get_info("mnist-sample")
    spec = DatasetSpec(name=info.name, channels=info.channels, classes=tuple("0123456789"), mean=info.mean,
                       std=info.std, native_size=info.native_size).to_dict()
    rng = np.random.default_rng(0)
    settings = itertools.product(("tanh", "relu", "sigmoid"), ("avg", "max"), (0.01, 0.03, 0.1, 0.3))
    paths = []
    for i, (activation, pool, lr) in enumerate(itertools.islice(settings, count)):
        config = TrainConfig(arch="lenet5", arch_options={"activation": activation, "pool": pool}, lr=lr,
                             dataset="mnist-sample", input_size=32, epochs=epochs, device="cpu")
        writer = RunWriter(root / f"compare-{i:02d}")
        writer.start(config, spec)
        tau = rng.uniform(3, 15)
        for epoch in range(1, epochs + 1):
            acc = float(np.clip(0.98 - 0.9 * np.exp(-epoch / tau) + rng.normal(0, 0.01), 0, 1))
            loss = float(2.3 * np.exp(-epoch / tau) + 0.05 + abs(rng.normal(0, 0.02)))
            writer.append_metrics(EpochStats(epoch=epoch, epochs=epochs, train_loss=loss * 0.9, train_acc=acc + 0.01,
                                             val_loss=loss, val_acc=acc, val_top5=min(1.0, acc + 0.015), lr=lr,
                                             seconds=float(rng.uniform(0.5, 2.0)), images_per_s=2000.0,
                                             is_best=True).to_row())
        writer.save_last({"epoch": epochs})
        writer.finish("finished")
        paths.append(writer.run_dir)
    return paths


def compare_responsiveness(window: Any, *, quick: bool) -> Section:
    """(o) The Runs tab's compare view with 20 runs: event-loop lateness while it reads them,
    overlays all 20, the smoothing slider is dragged through its range and the x-axis toggled."""
    from cnnstudio.training.store.runs import default_runs_dir

    count, epochs = 20, 60 if quick else 150
    paths = _write_compare_runs(default_runs_dir(), count, epochs)
    tab = window.runs_tab
    chart = tab.chart
    window.tabs.setCurrentWidget(tab)
    section = Section("o", f"responsiveness of the Runs tab's compare view: 10 ms QTimer probe while it reads "
                           f"{count} runs of {epochs} epochs, overlays them (validation top-1 and loss) and the "
                           f"smoothing slider is dragged 0 → 0.99 at 30 steps a second, the x-axis toggled")
    wait_until(lambda: not tab.reading, timeout_s=60, what="the Runs tab's first listing")
    probe = LatencyProbe()
    probe.start()
    started = time.perf_counter()
    tab.refresh()
    wait_until(lambda: not tab.reading and {Path(r.path) for r in tab.runs()} >= set(paths), timeout_s=120,
               what="the 20 runs' histories")
    read_s = time.perf_counter() - started
    probe.stop()
    during_read = probe.summary()

    chart.smoothing_slider.setValue(0)
    QApplication.instance().processEvents()
    started = time.perf_counter()
    tab.select_runs(paths)
    window.repaint()  # the overlay is done once it is on screen
    overlay_ms = 1000 * (time.perf_counter() - started)
    drawn = len(chart.runs())

    # A drag: one slider step every 33 ms from a timer (as mouse moves arrive); the chart redraws
    # in the same event loop the probe runs in. Then the x-axis toggled, every 300 ms.
    def timed(interval_ms: int, actions: list[Callable[[], None]]) -> tuple[dict[str, float], float]:
        timer = QTimer()
        timer.setInterval(interval_ms)
        timer.timeout.connect(lambda: actions.pop(0)() if actions else timer.stop())
        probe.start()
        t0 = time.perf_counter()
        timer.start()
        wait_until(lambda: not timer.isActive(), timeout_s=120, what="the compare view's redraws")
        seconds = time.perf_counter() - t0
        probe.stop()
        return probe.summary(), seconds

    slider = chart.smoothing_slider
    during_drag, drag_s = timed(33, [lambda v=v: slider.setValue(v) for v in range(slider.maximum() + 1)])
    toggles = 6
    during_toggle, _ = timed(300, [lambda: chart.x_combo.setCurrentIndex(1 - chart.x_combo.currentIndex())] * toggles)
    section.raw = {"read": during_read, "drag": during_drag, "toggle": during_toggle, "read_s": read_s,
                   "overlay_ms": overlay_ms, "runs_drawn": drawn, "epochs": epochs, "drag_s": drag_s}
    section.figures += [
        Figure("o.read_p99", f"event-loop lateness p99 while {count} runs are read", during_read["p99_ms"], "ms",
               "≤ 30 ms", during_read["p99_ms"] <= 30, f"read in {read_s:.2f} s (background)"),
        Figure("o.overlay", f"select {count} runs → their curves on screen", overlay_ms, "ms", "",
               None, f"{drawn} runs × 2 series, raw and smoothed"),
        Figure("o.drag_p99", "event-loop lateness p99 while the smoothing slider is dragged",
               during_drag["p99_ms"], "ms", "≤ 30 ms", during_drag["p99_ms"] <= 30,
               f"{slider.maximum() + 1} steps in {drag_s:.1f} s; {during_drag['ticks']} ticks, "
               f"max {during_drag['max_ms']:.0f} ms"),
        Figure("o.toggle_max", "event-loop lateness at worst when the x-axis is toggled (epoch ↔ time)",
               during_toggle["max_ms"], "ms", "", None, f"{toggles} toggles, p50 {during_toggle['p50_ms']:.1f} ms"),
    ]
    return section
