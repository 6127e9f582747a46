"""cnnstudio's speed benchmark (issue 4): every figure measured side by side in one run.

    .venv/bin/python benchmarks/run.py                 # everything (≈ 5 min on 2 CPU cores)
    .venv/bin/python benchmarks/run.py --quick         # shorter runs, noisier figures
    .venv/bin/python benchmarks/run.py --only a,c      # some sections

Sections: (a) GUI overhead, (b) data path, (c) responsiveness, (d) drop-to-top-5,
(e) launch to first paint and peak memory, (f) training images/s per architecture,
(g) evaluation, (h) Grad-CAM, (i) nearest neighbours, (j) distributed scaling, 1 → 2 processes (torchrun), (k) folder scan files/s at 10k and 50k files, (l) the Evaluate tab's event-loop lateness,
(m) the run history's cost (a fit with ÷ without, ms per snapshot, VGG-16's history size),
(n) activation maximisation (class images; 16 channels in one batch vs 1),
(o) the compare view's event-loop lateness (20 runs overlaid, smoothed),
(p) the training dynamics' cost (a fit with ÷ without, the recorder's share, VGG-16's recording size),
(r) the network graph: GoogLeNet's layout and drawing,
(q) the LR range test's cost (its steps ÷ as many bare training steps).
Prints a table (figure, value, target, met) and writes the same as JSON to
benchmarks/results/<timestamp>.json (or --out). Exit status 0 whether or not targets are
met — this is a measurement, not a test; a section that crashes is reported and the rest run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

# Before anything imports Qt: the window is real but drawn offscreen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HERE = Path(__file__).resolve().parent
SECTIONS = {
    "a": "GUI overhead (app training ÷ bare loop)",
    "b": "data path (engine loader ÷ notes' pipeline)",
    "c": "responsiveness (event-loop lateness while training)",
    "d": "drop-to-top-5 latency vs bare forward",
    "e": "launch to first paint, peak memory",
    "f": "training images/s per architecture",
    "g": "evaluation vs a bare model(x) loop",
    "h": "Grad-CAM vs a bare forward + backward",
    "i": "nearest neighbours: k-NN query, feature extraction",
    "j": "distributed scaling (1 → 2 processes)",
    "k": "folder scan files/s (10k and 50k files)",
    "l": "responsiveness of the Evaluate tab (evaluation, Grad-CAM)",
    "m": "run history: fit with ÷ without, ms per snapshot, size",
    "n": "activation maximisation: class images, 16 channels vs 1",
    "o": "responsiveness of the compare view (20 runs overlaid, smoothing)",
    "p": "training dynamics: fit with ÷ without the recording, its share, VGG-16's size",
    "q": "LR range test: finder steps ÷ bare training steps",
    "r": "the network as a graph: GoogLeNet's layout and drawing",
    "s": "the estimate against the real pace per epoch",
}
ORDER = ("e", "b", "a", "c", "d", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s")  # the subprocess first, while this process is idle


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke check; figures are noisier)")
    parser.add_argument("--only", default="", help="comma-separated sections to run, e.g. a,c (default: all)")
    parser.add_argument("--device", default="auto", help="training device: auto (CUDA when present), cpu, cuda")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON file")
    args = parser.parse_args(argv)
    wanted = [s.strip().lower() for s in args.only.split(",") if s.strip()] or list(ORDER)
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    args.sections = [s for s in ORDER if s in wanted]
    return args


def _load() -> list[float] | None:
    """The 1/5/15-minute load averages: other work on the machine makes every figure noisier."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---------------------------------------------------------------------------- (e)


def launch_and_memory(*, device: Any, quick: bool, scratch: Path) -> Any:
    """(e) A fresh process launches the real app offscreen; first paint from process start; peak RSS in training."""
    from timing import Figure, Section

    epochs = 1 if quick else 2
    section = Section("e", f"launch to first paint (fresh process), then peak memory over a {epochs}-epoch "
                           "lenet5 mnist-sample fit started from the window")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(scratch / "e-config"),
               CNNSTUDIO_RUNS=str(scratch / "e-runs"))
    train_device = "cpu" if device.type != "cuda" else f"cuda:{device.index or 0}"
    launched = time.time()
    proc = subprocess.run([sys.executable, str(HERE / "launch_probe.py"), str(epochs), train_device],
                          env=env, capture_output=True, text=True, timeout=300)
    events: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            events[record["event"]] = record
    section.raw = {"events": events, "returncode": proc.returncode, "stderr_tail": proc.stderr[-2000:]}
    if "error" in events:
        section.notes.append(f"the probe reported: {events['error'].get('message')}")
    if proc.returncode != 0:
        section.notes.append(f"the app's process exited with status {proc.returncode} after reporting")
    if "first_paint" not in events:
        raise RuntimeError(f"the app never painted its window (exit {proc.returncode}): {proc.stderr[-500:]}")
    paint = events["first_paint"]["time"] - launched
    section.figures.append(Figure("e.first_paint", "launch → first paint of the main window", paint, "s",
                                  "≤ 1.5 s", paint <= 1.5))
    if "engine_ready" in events:
        section.figures.append(Figure("e.engine_ready", "launch → PyTorch loaded (Start enabled)",
                                      events["engine_ready"]["time"] - launched, "s"))
    if "trained" in events:
        peak = events["trained"]["peak_rss_mb"]
        section.figures.append(Figure("e.peak_rss", f"peak resident memory, app + {epochs}-epoch mnist-sample fit",
                                      peak, "MB", "≤ 1,500 MB", peak <= 1500,
                                      f"{events['trained']['rss_before_mb']:,.0f} MB before Start"))
    return section


# ---------------------------------------------------------------------------- table


def _format(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "img/s":
        return f"{value:,.0f} img/s" if value >= 100 else f"{value:.2f} img/s"
    if unit in ("ms", "s", "%"):
        return f"{value:.{3 if unit == 's' else 1}f} {unit}".replace(" %", " %")
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "files/s":
        return f"{value:,.0f} files/s"
    return f"{value:g} {unit}".strip()


def print_table(machine: dict[str, Any], sections: list[Any], total_s: float, quick: bool) -> None:
    """The whole run as text: header with the machine, then one block per section."""
    print()
    print(f"cnnstudio benchmark{' (--quick)' if quick else ''} — {datetime.now():%Y-%m-%d %H:%M}")
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine.get('memory_gb', '?')} GB; "
          f"torch {machine['torch']} ({machine['torch_threads']} threads), torchvision {machine['torchvision']}, "
          f"PySide6 {machine['pyside6']}, Python {machine['python']}; device {machine['device']}"
          + (f" ({machine['gpu']})" if "gpu" in machine else ""))
    if machine.get("load_before") is not None:
        print(f"load average (1/5/15 min) before {machine['load_before']}, after {machine['load_after']} — "
              f"above 0.5 means other work shared the {machine['cores']} cores and the figures are noisy")
    rows = [("figure", "value", "target", "met", "side by side")]
    for section in sections:
        rows.append((f"({section.name}) {section.title}", "", "", "", ""))
        for fig in section.figures:
            met = "" if fig.met is None else ("yes" if fig.met else "NO")
            rows.append((f"    {fig.label}", _format(fig.value, fig.unit), fig.target, met, fig.detail))
        for note in section.notes:
            rows.append((f"    note: {note}", "", "", "", ""))
    figure_rows = [r for r in rows if any(r[1:])]
    widths = [max(len(r[i]) for r in figure_rows) for i in range(5)]
    for r in rows:
        if not any(r[1:]):
            print(r[0])  # a section heading or a note, on its own line
            continue
        print("  ".join(cell.ljust(w) if i < 4 else cell for i, (cell, w) in enumerate(zip(r, widths))).rstrip())
    print(f"total {total_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, print the table, write the JSON; returns the exit status."""
    args = parse_args(argv)
    sys.path.insert(0, str(HERE))
    from timing import Section, in_fresh_thread, machine_info

    scratch = Path(tempfile.mkdtemp(prefix="cnnstudio-bench-"))
    # Run folders and settings written by the benchmark stay out of the user's own.
    os.environ["CNNSTUDIO_RUNS"] = str(scratch / "runs")
    started = time.perf_counter()
    load_before = _load()
    device = _device(args.device)
    sections: list[Any] = []
    app = window = None

    def gui_window() -> Any:
        nonlocal app, window
        if window is None:
            from PySide6.QtCore import QCoreApplication, QSettings, qInstallMessageHandler
            from PySide6.QtWidgets import QApplication

            import gui_figures

            qInstallMessageHandler(_quiet_offscreen)
            app = QApplication.instance() or QApplication([sys.argv[0]])
            QCoreApplication.setOrganizationName("cnnstudio-benchmark")
            QCoreApplication.setApplicationName("cnnstudio-benchmark")
            QSettings.setDefaultFormat(QSettings.Format.IniFormat)
            QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch / "settings"))
            window = gui_figures.open_window()
        return window

    for name in args.sections:
        print(f"[{name}] {SECTIONS[name]}…", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            if name == "e":
                section = launch_and_memory(device=device, quick=args.quick, scratch=scratch)
            elif name == "b":
                import engine_figures

                section = in_fresh_thread(engine_figures.data_path, device=device, quick=args.quick)
            elif name == "f":
                import engine_figures

                section = in_fresh_thread(engine_figures.throughput, device=device, quick=args.quick)
            elif name in ("g", "h", "i", "n"):
                import inspect_figures

                measure = {"g": inspect_figures.evaluation_speed, "h": inspect_figures.gradcam_speed,
                           "i": inspect_figures.neighbours_speed, "n": inspect_figures.dream_speed}[name]
                section = in_fresh_thread(measure, device=device, quick=args.quick)
            elif name == "j":
                import distributed_figures

                section = distributed_figures.scaling(device=device, quick=args.quick)
            elif name == "m":
                import history_figures

                section = in_fresh_thread(history_figures.history_cost, device=device, quick=args.quick,
                                          scratch=scratch)
            elif name == "p":
                import dynamics_figures

                section = in_fresh_thread(dynamics_figures.dynamics_cost, device=device, quick=args.quick)
            elif name == "q":
                import lr_find_figures

                section = in_fresh_thread(lr_find_figures.lr_find_cost, device=device, quick=args.quick)
            elif name == "s":
                import estimate_figures

                section = in_fresh_thread(estimate_figures.estimate_accuracy, device=device, quick=args.quick)
            elif name == "k":
                import scan_figures

                section = scan_figures.folder_scan(quick=args.quick, scratch=scratch)
            else:
                import gui_figures

                win = gui_window()
                if name == "a":
                    section = gui_figures.gui_overhead(win, device=device, quick=args.quick, runs_dir=scratch)
                elif name == "c":
                    section = gui_figures.responsiveness(win, device=device, quick=args.quick)
                elif name == "l":
                    section = gui_figures.evaluate_responsiveness(win, quick=args.quick)
                elif name == "r":
                    import graph_figures

                    section = graph_figures.graph_drawing(window=win, quick=args.quick)
                elif name == "o":
                    section = gui_figures.compare_responsiveness(win, quick=args.quick)
                else:
                    section = gui_figures.classify_latency(win, quick=args.quick, folder=scratch)
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others' figures
            section = Section(name, SECTIONS[name])
            section.notes.append(f"failed: {type(exc).__name__}: {exc}")
            section.raw = {"traceback": traceback.format_exc()}
            print(traceback.format_exc(), file=sys.stderr)
        section.seconds = time.perf_counter() - t0
        sections.append(section)
    if window is not None:
        import gui_figures

        gui_figures.close_window(window)
    total = time.perf_counter() - started

    machine = machine_info(device)
    machine["load_before"], machine["load_after"] = load_before, _load()
    print_table(machine, sections, total, args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{datetime.now():%Y%m%d-%H%M%S}.json"
    payload = {
        "created": datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine,
        "total_s": total,
        "sections": {s.name: {"title": s.title, "seconds": s.seconds, "notes": s.notes,
                              "figures": [f.to_dict() for f in s.figures], "raw": s.raw} for s in sections},
    }
    text = json.dumps(_clean(payload), indent=1, default=_json_default, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    print(f"results: {path}")
    return 0


def _quiet_offscreen(_mode: Any, _context: Any, message: str) -> None:
    """Qt's messages on stderr, minus the offscreen platform's one about size hints (once per window)."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def _clean(value: Any) -> Any:
    """NaN and infinities (a figure not measured) as null: strict JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):  # the trainer's stats records
        return _clean({k: getattr(value, k) for k in value.__dataclass_fields__})
    return value


def _json_default(value: Any) -> Any:
    """Anything else JSON cannot hold, as text."""
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
