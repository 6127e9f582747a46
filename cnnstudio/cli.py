"""The command line: `cnnstudio [list | summary | train | lr-find | sweep | classify | export | runs | compare | evaluate | explain | neighbours | kernels | dream]`; no command opens the app.

It is a thin face on the engine and never imports Qt (only `cnnstudio` with no command
hands over to the app). A user error prints one line on stderr and exits 2 — never a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, TextIO

from cnnstudio.choices import Finetune, Init, Optimizer, Schedule, device_option
from cnnstudio.cli_options import finite_number, whole_number
from cnnstudio.errors import CnnStudioError
from cnnstudio.files import readable
from cnnstudio.training.records import BatchStats, EpochStats, FitResult, FitStart
from cnnstudio.training.fit.callbacks import Callback

if TYPE_CHECKING:
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.experiments.queue import TrainingQueue
    from cnnstudio.training.fit.trainer import Trainer

__all__ = ["ConsoleProgress", "main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, like every other error here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: {readable(message)} (see '{self.prog} --help')\n")


def _parse_options(pairs: Sequence[str]) -> dict[str, object]:
    """`-o batch_norm=true -o dropout=0.3` → {"batch_norm": True, "dropout": 0.3}."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CnnStudioError(f"option {pair!r} is not KEY=VALUE (e.g. -o batch_norm=true)")
        low = raw.strip().lower()
        value: object
        if low in ("true", "yes", "on"):
            value = True
        elif low in ("false", "no", "off"):
            value = False
        else:
            try:
                value = float(raw) if "." in raw or "e" in low else int(raw)
            except ValueError:
                value = raw
        options[key.strip()] = value
    return options


def _cmd_list(args: argparse.Namespace) -> int:
    from cnnstudio.data.catalog import list_datasets
    from cnnstudio.models.catalog import list_models

    models, datasets = list_models(), list_datasets()
    from cnnstudio.models.pretrained import PRETRAINED

    # One width for every name column: googlenet-torchvision broke a fixed 13.
    width = max(len(name) for name in [*(m.name for m in models), *(d.name for d in datasets),
                                       *(p.name for p in PRETRAINED), "PATH"])
    print("Architectures")
    for info in models:
        opts = ", ".join(f"{o.name}={o.default}" for o in info.options) or "-"
        print(f"  {info.name:<{width}} {info.title} — {info.citation}; {info.depth} weight layers; "
              f"paper's input {info.default_size}×{info.default_size} (min {info.min_size}); options: {opts}")
    print("\nDatasets")
    for ds in datasets:
        where = "downloads on first use" if ds.downloadable else "offline, ships with the install"
        print(f"  {ds.name:<{width}} {ds.title} — {ds.num_classes} classes, {ds.channels}×{ds.native_size}×"
              f"{ds.native_size}; {where}")
    print(f"  {'PATH':<{width}} any image folder: one sub-folder per class (or train/ and val/ inside)")
    print("\nPretrained ImageNet weights (torchvision's; classify --pretrained NAME, train --pretrained NAME)")
    for entry in PRETRAINED:
        opts = ", ".join(f"{k}={v}" for k, v in entry.arch_options)
        print(f"  {entry.name:<{width}} into {entry.arch}{f' ({opts})' if opts else ''}")
    return 0


def _summary_input(args: argparse.Namespace, options: dict[str, object]) -> tuple[int, int, int | None]:
    """(channels, classes, size) from --input / --dataset / --paper-size / --num-classes."""
    from cnnstudio.models.catalog import get_info

    info = get_info(args.arch)  # unknown names fail first, with the list of valid ones
    channels, classes, size = info.paper_channels, info.paper_classes, None  # the paper's own net
    if args.dataset:
        from cnnstudio.data.catalog import get_info as dataset_info
        from cnnstudio.errors import UnknownNameError
        from cnnstudio.training.input_size import choose_input_size

        try:
            ds = dataset_info(args.dataset)
            channels, classes = ds.channels, ds.num_classes
        except UnknownNameError:
            if not Path(args.dataset).expanduser().is_dir():
                raise
            channels, classes = _folder_classes(Path(args.dataset).expanduser())
        # The size training would use: the dataset's, raised to the architecture's minimum.
        size = choose_input_size(args.arch, args.dataset, paper_size=args.paper_size,
                                 arch_options=options or None).size
    if args.input:
        parts = args.input.replace("x", ",").split(",")
        try:
            c, h, w = (int(p) for p in parts)
        except ValueError:
            raise CnnStudioError(f"--input {args.input!r} is not C,H,W (e.g. --input 3,224,224)") from None
        if h != w:
            raise CnnStudioError(f"--input {args.input!r}: only square inputs are supported (H = W)")
        if c < 1 or h < 1:
            raise CnnStudioError(f"--input {args.input!r}: channels and sizes must be at least 1")
        channels, size = c, h
    if args.num_classes is not None:
        classes = args.num_classes
    if channels < 1 or classes < 1:
        raise CnnStudioError("channels and --num-classes must be at least 1")
    return channels, classes, size


def _folder_classes(folder: Path) -> tuple[int, int]:
    """(channels, classes) of an image folder for `summary`, from its class folders alone: colour
    is assumed (only a scan of every image tells a grey folder, and training does that), and said."""
    from cnnstudio.data.layout import ASSUMED_FOLDER_CHANNELS, detect_layout

    classes = len(detect_layout(folder).classes)
    if classes < 2:
        raise CnnStudioError(f"{folder} has {classes} class folder(s); an image folder needs one sub-folder per "
                             "class, at least two")
    print(readable(f"note: {folder}: {classes} classes; taken as colour images ({ASSUMED_FOLDER_CHANNELS} channels)"
                   " — a folder of grey images trains with 1 (see it with --input 1,H,W)"), file=sys.stderr)
    return ASSUMED_FOLDER_CHANNELS, classes


def _cmd_summary(args: argparse.Namespace) -> int:
    from cnnstudio.inspect.summary import format_summary, summarize_arch

    options = _parse_options(args.option)
    channels, classes, size = _summary_input(args, options)
    summary = summarize_arch(args.arch, in_channels=channels, num_classes=classes, input_size=size, **options)
    print(format_summary(summary))
    if args.json:
        import json

        from cnnstudio.files import atomic_write
        from cnnstudio.inspect.summary import summary_json

        payload = (json.dumps({"arch": args.arch, **summary_json(summary)}, indent=1) + "\n").encode("utf-8")
        atomic_write(args.json, lambda handle: handle.write(payload), size_estimate=len(payload))
    return 0


# The options every verb names its output files with (a model's sidecar is `<file>.json`).
_OUTPUT_OPTIONS = ("json", "csv", "output", "plot", "heatmap")


def _check_outputs(args: argparse.Namespace) -> None:
    """One guard for every verb's output files: never a run's own file, never a FIFO or a folder."""
    from cnnstudio.training.store.new_run import refuse_as_output

    for name in _OUTPUT_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, (str, Path)) and str(value):
            refuse_as_output(value)
            if args.command == "export" and name == "output":
                refuse_as_output(f"{value}.json")


def _cmd_graph(args: argparse.Namespace) -> int:
    import json

    from cnnstudio.files import atomic_write
    from cnnstudio.inspect.network_graph import arch_diagram, to_json, to_png_array, to_svg

    options = _parse_options(args.option)
    channels, classes, size = _summary_input(args, options)
    out = args.output
    if out and not out.lower().endswith((".svg", ".png")):
        raise CnnStudioError(f"-o {readable(out)}: give a file name ending in .svg or .png")
    diagram = arch_diagram(args.arch, in_channels=channels, num_classes=classes, input_size=size,
                           collapsed=set(args.collapse or ()), **options)
    leaves = [n for n in diagram.nodes if n.kind not in ("input", "concat")]
    print(f"{diagram.title}: {len(leaves)} layers, {len(diagram.edges)} edges, {len(diagram.groups)} blocks or heads")
    if out and out.lower().endswith(".svg"):
        payload = to_svg(diagram).encode("utf-8")
        atomic_write(out, lambda handle: handle.write(payload), size_estimate=len(payload))
        print(f"wrote {readable(out)}")
    elif out:
        from cnnstudio.inspect.pictures import save_png

        save_png(out, to_png_array(diagram))
        print(f"wrote {readable(out)}")
    if args.json:
        payload = (json.dumps({"arch": args.arch, **to_json(diagram)}, indent=1) + "\n").encode("utf-8")
        atomic_write(args.json, lambda handle: handle.write(payload), size_estimate=len(payload))
        print(f"wrote {readable(args.json)}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    if args.nproc is not None:
        return _launch_torchrun(args)
    from cnnstudio.training.fit import distributed
    from cnnstudio.training.fit.trainer import build_trainer
    from cnnstudio.training.fit.training_data import load_training_data
    from cnnstudio.training.records import FitPlan

    restart = False  # a run killed before its first checkpoint starts again in its folder
    if args.resume:
        from cnnstudio.training.store.runs import check_not_in_use, open_run

        _refuse_settings_with_resume(args)
        run = open_run(args.resume)
        config = run.config
        if distributed.is_main_process():  # rank 0 alone takes the run lock: the others would see it held
            check_not_in_use(args.resume)  # before the data loads; the trainer's lock is the guard
        if args.epochs is not None:
            config = config.replace(epochs=args.epochs)
        restart = _restart_in_place(Path(args.resume))
        if not restart and run.epochs_done >= config.epochs:  # said before the data loads and the estimate runs
            raise CnnStudioError(f"{readable(str(args.resume))} has already trained {run.epochs_done} epoch(s); ask for "
                                 f"more than {run.epochs_done} epochs to resume (--epochs N, the new total)")
        estimated = config.replace(epochs=max(1, config.epochs - run.epochs_done))  # what the estimate covers
    else:
        from cnnstudio.training.store.new_run import check_new_run_dir, ensure_runs_root
        from cnnstudio.training.store.runs import default_runs_dir

        config = train_config(args)
        estimated = config
    config.validate()
    # Under torchrun every process runs this command; rank 0 alone talks and writes, and
    # loads the data first (a download happens once), the others after it.
    if args.dist_timeout is not None:
        distributed.collective_timeout(args.dist_timeout)  # refused in words, under torchrun or not
    ctx = distributed.setup(config.device, timeout_minutes=args.dist_timeout)
    main = ctx is None or ctx.is_main
    out = Path(args.out) if args.out else None
    if main and not args.resume and not args.estimate:  # an estimate makes no run
        # Refused before the data loads: a bad --out, an unwritable runs folder.
        check_new_run_dir(out) if out is not None else ensure_runs_root(default_runs_dir())
    console = ConsoleProgress()
    callbacks = [console] if main else []
    if ctx is not None and not main:
        ctx.barrier(data=True)
    # Loaded here so a download or folder scan shows its progress before training starts.
    bundle = load_training_data(config, progress=console.loading if main else None)
    if ctx is not None and main:
        ctx.barrier(data=True)
    if main:  # said where the augmentation is chosen, before any time is spent on it
        from cnnstudio.data.catalog import augmentation_warnings

        for warning in augmentation_warnings(config.augment, channels=bundle.spec.channels):
            print(f"warning: {warning}", file=sys.stderr)
    # A few measured steps first (one process only: under torchrun the ranks would wait on each other).
    if ctx is None and _estimate_first(estimated, bundle, only=args.estimate, say_size=not args.resume):
        return 0
    if restart:
        if main:
            from cnnstudio.training.store.new_run import discard_new_run_dir

            from cnnstudio.training.store.runs import RunLock

            with RunLock.acquire(args.resume):  # checked again now: the data took a while to load
                if not _restart_in_place(Path(args.resume)):
                    raise CnnStudioError(f"{readable(str(args.resume))} got a last.pt while the data loaded — "
                                         "resume it again")
                print(f"{readable(str(args.resume))} was stopped before its first checkpoint (nothing was trained): "
                      "it starts again in its folder", file=sys.stderr)
                discard_new_run_dir(args.resume, made=False, keep_marker=True)  # is_ours was checked: run files only
        plan = FitPlan(config, args.resume)
    elif args.resume:
        plan = FitPlan(config, args.resume, resume=True)
    else:
        plan = FitPlan(config, out)
    trainer = build_trainer(plan, callbacks, bundle=bundle)
    result = _fit_with_ctrl_c_as_stop(trainer)
    if main:  # the console already said how the fit ended (ConsoleProgress.on_fit_end)
        if result.stopped_by_user:
            print(readable(f"resume with: cnnstudio train --resume {result.run_dir}"), file=sys.stderr)
        print(readable(str(result.run_dir)))
    return 0


def _cmd_lr_find(args: argparse.Namespace) -> int:
    """`lr-find`: the LR range test of the training the options describe; prints the suggestion."""
    from cnnstudio.training.fit.lr_find import find_lr
    from cnnstudio.training.fit.training_data import load_training_data

    # -o takes the plot too (`-o lr.png`, as the other picture verbs write theirs); KEY=VALUE are options.
    plots = [value for value in args.option if "=" not in value and value.lower().endswith(".png")]
    if len(plots) > 1:
        raise CnnStudioError(f"one plot file please; got {', '.join(plots)}")
    args.option = [value for value in args.option if value not in plots]
    plot = plots[0] if plots else args.plot
    if plots and args.plot:
        raise CnnStudioError(f"one plot file please; got {plots[0]} and {args.plot}")
    config = train_config(args).validate()
    console = ConsoleProgress()
    bundle = load_training_data(config, progress=console.loading)

    def progress(done: int, total: int, _message: str) -> None:
        if sys.stderr.isatty() and (done == total or done % 10 == 0):
            print(f"\rLR range test: step {done}/{total}", end="", file=sys.stderr, flush=True)

    result = find_lr(config, bundle, start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps,
                     progress=progress)
    if sys.stderr.isatty():
        print("", file=sys.stderr)
    if result.suggested_lr is not None:
        print(f"suggested lr: {result.suggested_lr:.3g} (steepest descent of the smoothed loss)")
        print(f"min/10:       {result.min_lr_div10:.3g} (the lowest loss's lr ÷ 10)")
    else:
        print("no suggestion: the loss diverged within a few steps — lower --start-lr", file=sys.stderr)
    if result.stopped_early:
        print(f"stopped after {len(result.lrs)} of {result.steps} steps: the loss {result.stopped_early} "
              f"at lr {result.lrs[-1]:.3g}", file=sys.stderr)
    if args.json:
        import json

        from cnnstudio.files import atomic_write

        payload = (json.dumps({"arch": config.arch, "dataset": config.dataset, **result.to_json()}, indent=1,
                              allow_nan=False) + "\n").encode("utf-8")
        atomic_write(args.json, lambda handle: handle.write(payload), size_estimate=len(payload))
    if plot:
        from cnnstudio.inspect.lr_plot import lr_picture
        from cnnstudio.inspect.pictures import save_png

        save_png(plot, lr_picture(result, title=f"LR range test: {config.arch} on {config.dataset}, "
                                                f"batch {config.batch_size}, {config.optimizer}"))
    return 0


def _refuse_settings_with_resume(args: argparse.Namespace) -> None:
    """`train --resume` goes on with the run's own settings: a settings flag (but --epochs, the new
    total) would be ignored, so it is refused in words, as `sweep --resume` does."""
    given = [flag for flag in _config_flags_given(args) if flag != "--epochs"]
    given += ["--out"] * bool(args.out)
    if given:
        raise CnnStudioError(f"--resume continues the run with its own settings; leave out "
                             f"{', '.join(dict.fromkeys(given))} (only --epochs, the new total, may be given)")


def _restart_in_place(run_dir: Path) -> bool:
    """Whether `run_dir` is a run killed before its first checkpoint, to start again in its folder
    (True); False when it has a last.pt to resume. Refused in words when it has no last.pt but
    is not provably a fresh run of ours (`run_dirs.restart_refusal`)."""
    from cnnstudio.files import readable
    from cnnstudio.errors import CheckpointError
    from cnnstudio.training.store.new_run import restart_refusal
    from cnnstudio.training.store.runs import LAST_CHECKPOINT

    if (run_dir / LAST_CHECKPOINT).is_file():
        return False
    refusal = restart_refusal(run_dir)
    if refusal is not None:
        raise CheckpointError(f"{readable(str(run_dir))} has no last.pt to resume from: {refusal} — start a new run "
                              f"(--init-from {readable(str(run_dir))} starts from its best.pt)")
    return True


def _config_flags_given(args: argparse.Namespace) -> list[str]:
    """The settings flags (`_add_config_arguments`, their one home) that `args` gives a value."""
    probe = argparse.ArgumentParser(add_help=False)
    _add_config_arguments(probe)
    return [action.option_strings[-1] for action in probe._actions
            if getattr(args, action.dest, None) not in (None, False, [])]


def _cmd_sweep(args: argparse.Namespace) -> int:
    """`sweep`: queue the variants, train them one after another, end with the comparison table."""
    from cnnstudio.training.experiments.queue import TrainingQueue

    if args.resume:
        given = _config_flags_given(args)
        given += ["--vary"] * bool(args.vary) + ["--study"] * args.study + ["--all-on"] * args.all_on
        given += ["--width"] * (args.width is not None)
        if given:
            raise CnnStudioError(f"--resume continues the saved sweep with its own settings; leave out "
                                 f"{', '.join(dict.fromkeys(given))}")
        queue = TrainingQueue.load(args.resume)
        if args.retry_failed:
            for item in queue.items:
                if queue.status(item.id).state == "failed":
                    queue.retry(item.id)
    else:
        if args.retry_failed:
            raise CnnStudioError("--retry-failed goes with --resume QUEUE")
        queue = _new_sweep(args)
    left = queue.remaining()
    if args.resume and not left:
        print(readable(f"queue: {queue.path}: all {len(queue.items)} runs have ended; their table follows"),
              file=sys.stderr)
    else:
        print(readable(f"queue: {queue.path} ({left} of {len(queue.items)} runs to train; continue an interrupted "
                       f"sweep with cnnstudio sweep --resume {queue.folder})"), file=sys.stderr)
    queue.acquire()  # one runner per queue (the window's queue runner takes the same lock)
    try:
        if args.resume:
            queue.reload()  # what another runner did before this one got the lock
            if queue.paused and queue.remaining():
                # A stop, or the window's close mid-queue, leaves the queue paused: resuming means going on.
                from cnnstudio.training.experiments.queue import window_queue_dir

                why = ("the window pauses its queue when it closes" if queue.folder.resolve() == window_queue_dir().resolve()
                       else "a stop pauses it")
                print(f"queue: it was paused ({why}); resuming it", file=sys.stderr)
                queue.set_paused(False)
        stopped = _run_queue(queue)
    finally:
        queue.release()
    from cnnstudio.training.experiments.compare import format_table, write_csv

    rows = queue.comparison()
    if rows:
        print(format_table(rows, names={Path(item.run_dir): item.label for item in queue.items if item.run_dir}))
        table = write_csv(rows, queue.folder / "comparison.csv")
        print(readable(f"table: {table}"))
    failed = [item for item in queue.items if queue.status(item.id).state == "failed"]
    for item in failed:
        print(readable(f"failed: {item.label}: {queue.status(item.id).reason}"), file=sys.stderr)
    if stopped:
        print(readable(f"sweep stopped; continue it with: cnnstudio sweep --resume {queue.folder}"), file=sys.stderr)
    return 0


def _new_sweep(args: argparse.Namespace) -> TrainingQueue:
    """A new queue of the runs --vary/--study ask for, in a new sweep folder of the runs directory."""
    from cnnstudio.training.experiments.queue import TrainingQueue, new_sweep_dir
    from cnnstudio.training.store.runs import default_runs_dir
    from cnnstudio.training.experiments.sweep import sweep_configs, tricks_study

    if args.study:
        if args.vary or args.all_on or args.option:
            raise CnnStudioError("--study is the tricks CNN's own set of runs; leave out --vary, --all-on and -o")
        if args.arch not in (None, "tricks"):
            raise CnnStudioError(f"--study trains the tricks CNN; leave --arch out (not {args.arch})")
        args.arch = "tricks"
        base = train_config(args)
        labelled, title = tricks_study(base, width=args.width), "tricks study"
        if args.width is not None and args.width != 1.0:
            title += f" at width {args.width:g}"
    else:
        if args.width is not None:
            raise CnnStudioError("--width sizes the tricks study (--study); for one run use -o width=W")
        if not args.vary:
            raise CnnStudioError("sweep needs --vary (e.g. --vary batch_norm,gap or --vary lr=0.1,0.01) or --study")
        base = train_config(args)
        labelled, title = sweep_configs(base, args.vary, all_on=args.all_on), f"sweep of {', '.join(args.vary)}"
    folder = new_sweep_dir(default_runs_dir(), arch=base.arch, dataset=base.dataset)
    return TrainingQueue.create(folder, title=title, labelled=labelled)


def _run_queue(queue: TrainingQueue) -> bool:
    """Train the queue's items in order (a half-done one resumes first); True when a stop ended it.

    The policy is the engine's `QueuePolicy` (the window's queue follows the same): a failed
    item (a NaN loss, a dataset that cannot load) is marked failed with its reason and the next
    one starts; Ctrl-C/SIGTERM stops the current run as `train` does, pauses the queue and
    ends the sweep, resumable.
    """
    from dataclasses import replace

    from cnnstudio.errors import describe
    from cnnstudio.training.experiments.queue_policy import QueuePolicy
    from cnnstudio.training.experiments.queue import ItemState
    from cnnstudio.training.store.runs import open_run
    from cnnstudio.training.fit.trainer import build_trainer
    from cnnstudio.training.fit.training_data import training_data_key

    total = len(queue.items)
    policy = QueuePolicy(queue)
    loaded: tuple[str, object] | None = None  # the variants of a sweep mostly share their data

    def refused(item: object, reason: str) -> None:  # marked failed, nothing touched: the sweep goes on
        print(f"failed: {item.label}: {reason} — going on with the next run", file=sys.stderr)

    while (launch := policy.next_launch(refused=refused)) is not None:
        item = launch.item
        number = queue.index(item.id) + 1
        console = ConsoleProgress()
        print("\n" + readable(f"[{number}/{total}] {item.label}{' (resuming)' if launch.resume else ''}"),
              file=sys.stderr)
        try:
            plan = launch
            if launch.resume:
                plan = replace(launch, config=open_run(launch.run_dir).config.replace(epochs=item.config.epochs))
            key = training_data_key(plan.config)
            if loaded is not None and loaded[0] != key:
                loaded = None  # free the previous data first

            def keep(bundle: object, key: str = key) -> None:
                nonlocal loaded
                loaded = (key, bundle)

            trainer = build_trainer(plan, [console], bundle=None if loaded is None else loaded[1],
                                    progress=console.loading, on_loaded=keep)
            _fit_with_ctrl_c_as_stop(trainer)
        except Exception as exc:  # noqa: BLE001 - whatever one run meets, it fails alone and the next one starts
            reason = describe(exc)
            policy.ended(failure=reason)
            print(readable(f"failed: {reason} — going on with the next run"), file=sys.stderr)
            continue
        if policy.ended() != ItemState.DONE:
            print(readable(f"stopped: {item.label} is saved and resumes where it stopped"), file=sys.stderr)
            return True
    return False


def _launch_torchrun(args: argparse.Namespace) -> int:
    """`train --nproc N`: the same command under torchrun, N processes on this machine."""
    from cnnstudio.training.fit.distributed import launched_by_torchrun, torchrun_command

    if args.nproc < 1:
        raise CnnStudioError(f"--nproc must be at least 1; got {args.nproc}")
    if launched_by_torchrun():
        raise CnnStudioError("--nproc starts torchrun itself; under torchrun, leave it out")
    if args.dist_timeout is not None:  # said once, before N processes say it
        from cnnstudio.training.fit.distributed import collective_timeout

        collective_timeout(args.dist_timeout)
    if args.batch_size is not None and args.batch_size % args.nproc:  # said once, before N processes say it
        raise CnnStudioError(f"batch_size {args.batch_size} does not split over {args.nproc} processes: use a "
                             f"multiple of {args.nproc} (it is the global batch)")
    rest, skip = [], False
    for arg in args.argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    # torchrun's own launcher, run here (not `python -m torch.distributed.run`) so that a process
    # that fails ends the command with one line, not the launcher's ChildFailedError traceback:
    # each process has already said why it stopped.
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from cnnstudio.training.fit.distributed import launch_failure

    command = torchrun_command(args.nproc, rest)
    try:
        run(parse_args(command[command.index("torch.distributed.run") + 1:]))
    except ChildFailedError as exc:
        raise CnnStudioError(launch_failure(exc.failures, args.nproc)) from None
    return 0


def _estimate_first(config: TrainConfig, bundle: object, *, only: bool, say_size: bool = False) -> bool:
    """Measure a few steps before training: print the estimate (and exit, with --estimate)
    or warn when the memory would not fit. True when the command is done."""
    from cnnstudio.training.fit.estimate import estimate_training
    from cnnstudio.training.input_size import config_input_size

    if say_size and config.input_size is None:
        choice = config_input_size(config, fallback_native=bundle.spec.native_size)
        paper = f" (--paper-size for the paper's {choice.paper}×{choice.paper})" if choice.size != choice.paper else ""
        print(readable(f"input {choice.sentence}{paper}"), file=sys.stderr)
    estimate = estimate_training(config, bundle=bundle)
    if only:
        print(readable(f"estimate: {estimate.sentence}") + "\n" + readable(f"  {estimate.details}"))
    else:
        print(readable(f"estimate: {estimate.sentence}"), file=sys.stderr)
    if estimate.warning:
        print(readable(f"warning: {estimate.warning}"), file=sys.stderr)
    return only


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The `train` command's settings: the architecture's quick-start recipe, then the options given."""
    from cnnstudio.training.config import default_config

    arch_options = _parse_options(args.option)
    if args.pretrained:  # the weights say which net; their options are the defaults (-o still wins)
        from cnnstudio.models.pretrained import get_pretrained

        entry = get_pretrained(args.pretrained)
        args.arch = args.arch or entry.arch
        arch_options = {**entry.options, **arch_options}
    if not args.arch:
        raise CnnStudioError("train needs --arch (see 'cnnstudio list'), or --resume RUN_DIR")
    fields = {
        "arch": args.arch,
        "arch_options": arch_options,
        "pretrained": args.pretrained,
        "pretrained_weights": args.weights,
        "finetune": args.finetune,
        "dataset": args.dataset,
        "data_root": args.data_root,
        "input_size": _train_input_size(args),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "momentum": args.momentum,
        "weight_decay": args.weight_decay,
        "schedule": args.schedule,
        "init": args.init,
        "init_from_run": args.init_from,
        "augment": tuple(a for a in (args.augment or "").split(",") if a),
        "val_fraction": args.val_fraction,
        "seed": args.seed,
        "device": args.device,
        "amp": args.amp,
        "compile": args.compile,
        "sync_batch_norm": args.sync_bn,
        "history": False if args.no_history else None,
        "dynamics": False if args.no_dynamics else None,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    return default_config(args.arch).replace(**given)


def _train_input_size(args: argparse.Namespace) -> int | None:
    """--input-size, or the paper's size with --paper-size; None: the dataset's (the trainer's rule)."""
    if not args.paper_size:
        return args.input_size
    from cnnstudio.training.input_size import choose_input_size

    return choose_input_size(args.arch, input_size=args.input_size, paper_size=True).size


def _fit_with_ctrl_c_as_stop(trainer: object) -> object:
    """Ctrl-C or SIGTERM (`timeout`, `kill`, a scheduler) asks the trainer to stop at its next
    layer (the batch in progress is discarded): it saves `last.pt` and marks the run stopped,
    so it can be resumed; a second one interrupts at once."""
    import signal

    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT), signal.SIGTERM: signal.getsignal(signal.SIGTERM)}

    def stop(signum: int, _frame: object) -> None:
        again = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\nstopping: this batch is discarded, the run is saved ({again} again to abort)…", file=sys.stderr)
        signal.signal(signum, previous[signum])
        trainer.request_stop()

    for signum in previous:
        signal.signal(signum, stop)
    try:
        return trainer.fit()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _cmd_classify(args: argparse.Namespace) -> int:
    from cnnstudio.inspect.classify import Predictor

    if args.pretrained:  # every positional is an image: there is no run folder
        from cnnstudio.training.weights.pretrained import load_pretrained

        images = [args.run_dir, *args.images]
        predictor = Predictor.from_pretrained(
            load_pretrained(args.pretrained, weights=args.weights, progress=ConsoleProgress().loading))
    else:
        if args.weights:
            raise CnnStudioError("--weights goes with --pretrained NAME (a run folder has its own weights)")
        if not args.images:
            raise CnnStudioError("classify needs a run folder and at least one image (or --pretrained NAME IMAGE...)")
        images = args.images
        predictor = Predictor.from_run(args.run_dir, which=args.which, auto_invert=not args.no_invert)
    failed = 0
    if args.tencrop:
        from cnnstudio.data.catalog import mirroring_tta_warning

        warning = mirroring_tta_warning("tencrop", channels=predictor.spec.channels)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    for result in predictor.predict_files(images, top_k=args.top, tencrop=args.tencrop):
        if isinstance(result, CnnStudioError):
            print(f"cnnstudio: {readable(str(result))}", file=sys.stderr)
            failed += 1
            continue
        print(readable(result.path + (f"  ({result.note})" if result.note else "")))
        if result.low_confidence:
            print("  far from the training images: the scores below say little about it")
        for name, prob in result.topk:
            print(f"  {readable(name)}  {prob:.4f}")
    return EXIT_USAGE if failed else 0


def _cmd_export(args: argparse.Namespace) -> int:
    from cnnstudio.training.weights.export import export_run

    out = args.output or str(Path(args.run_dir) / f"model.{args.format}")
    report = export_run(args.run_dir, args.format, out, which=args.which, progress=ConsoleProgress().loading)
    sizes = " and ".join(str(b) for b in report.batch_sizes)
    print(f"{readable(str(report.path))}  ({report.size_bytes / 1e6:.1f} MB, {report.format}; checked on batches of "
          f"{sizes}: largest difference from PyTorch {report.max_abs_diff:.1e})")
    print(f"{readable(str(report.sidecar))}  (class names, input size, channels, mean/std)")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from cnnstudio.training.store.runs import default_runs_dir, list_runs

    from cnnstudio.files import readable

    runs = list_runs(_runs_root(args.root))
    if not runs:
        root = Path(args.root) if args.root else default_runs_dir()
        print(readable(f"no runs yet in {root}{'' if root.is_dir() else ' (there is no such folder)'}"))
        return 0
    root = Path(args.root) if args.root else default_runs_dir()
    print(f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {readable(str(root))}")
    print("\n".join(_runs_table(runs, root)))
    return 0


if TYPE_CHECKING:
    from cnnstudio.training.store.runs import RunInfo


def _runs_table(runs: Sequence[RunInfo], root: Path) -> list[str]:
    """`runs` as aligned lines under a header: each run by its folder's name (the root is said
    once above), its settings last; an unreadable run's problem in place of its figures."""
    from cnnstudio.files import readable

    header = ["run", "variant", "dataset", "status", "epochs", "best val", "settings"]
    rows: list[list[str]] = []
    for run in runs:
        path = Path(run.path)
        name = readable(path.name if path.parent.resolve() == root.resolve() else str(path))
        if not run.readable:
            rows.append([name, readable(f"unreadable: {run.problem}")])
            continue
        best = f"{run.best_val_acc * 100:.1f} %" if run.best_val_acc is not None else "–"
        notes = ""
        if run.skipped_files:
            notes += f"  ({run.skipped_files:,} unusable files skipped)"
        if run.problems:
            notes += "  note: " + "; ".join(run.problems)
        dataset = Path(run.dataset).name or run.dataset  # a folder by its name, as the window shows it
        rows.append([name, run.variant, readable(dataset), run.status, run.progress_text, best,
                     run.hyperparameters_text + notes])
    full = [row for row in rows if len(row) == len(header)]
    widths = [max(len(cells[i]) for cells in [header, *full]) for i in range(len(header) - 1)]

    def line(cells: list[str]) -> str:
        if len(cells) != len(header):  # an unreadable run: its name, then what is wrong
            return f"{cells[0].ljust(widths[0])}  {cells[1]}"
        return "  ".join([*(c.rjust(w) if i == 5 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))),
                          cells[-1]]).rstrip()

    return [line(header), *(line(cells) for cells in rows)]


def _runs_root(text: str | None) -> Path | None:
    """--root as a folder: a file or a FIFO is refused in words (not "no runs yet"); a missing one has no runs."""
    if text is None:
        return None
    from cnnstudio.files import file_kind

    root = Path(text)
    try:
        mode = os.stat(root).st_mode
    except FileNotFoundError:
        return root  # "no runs yet in X (there is no such folder)"
    except OSError as exc:
        raise CnnStudioError(f"--root {text}: {exc.strerror or exc}; give the runs folder") from None
    if not stat.S_ISDIR(mode):
        raise CnnStudioError(f"--root {text} is {file_kind(mode)}, not a folder; give the runs folder")
    return root


def _run_folder(name: str, root: Path) -> Path:
    """A RUN argument: a run folder's path, or the name of a run in the runs directory."""
    path = Path(name)
    if path.is_dir():
        return path
    if (root / name).is_dir():
        return root / name
    from cnnstudio.files import readable

    raise CnnStudioError(f"no run {readable(name)}: it is neither a folder nor a run in {readable(str(root))}")


def _cmd_compare(args: argparse.Namespace) -> int:
    from cnnstudio.training.experiments.compare import comparison_rows, format_table, sort_rows, write_csv
    from cnnstudio.files import readable
    from cnnstudio.training.store.runs import default_runs_dir, list_runs, open_run

    root = _runs_root(args.root) or default_runs_dir()
    if args.runs:
        folders = list(dict.fromkeys(_run_folder(name, root).resolve() for name in args.runs))
        runs = [open_run(folder) for folder in folders]  # a folder that is no run: its one-line reason
    else:
        runs = list_runs(root)
        for run in runs:
            if not run.readable:
                print(readable(f"cnnstudio: left out {run.path}: {run.problem}"), file=sys.stderr)
    baseline = None
    if args.baseline:
        baseline = _run_folder(args.baseline, root).resolve()
        if all(Path(run.path).resolve() != baseline for run in runs):
            runs.insert(0, open_run(baseline))  # compared against, so shown
    if not any(run.readable for run in runs):
        print(readable(f"no runs yet in {root}{'' if root.is_dir() else ' (there is no such folder)'}"))
        return 0
    from cnnstudio.training.experiments.compare import group_by_dataset

    rows = group_by_dataset(sort_rows(comparison_rows(runs, baseline=baseline), args.sort))  # each dataset's runs together
    print(format_table(rows, baseline=baseline))
    if args.csv:
        try:
            write_csv(rows, args.csv)
        except OSError as exc:
            raise CnnStudioError(f"cannot write {readable(args.csv)}: {exc.strerror or exc}") from None
        print(f"\nwritten: {readable(args.csv)}")
    return 0


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _default(field: str) -> str:
    """"default: 128; lenet5: 64" — the config's default and the architectures that start elsewhere."""
    from cnnstudio.models.catalog import list_models
    from cnnstudio.training.config import TrainConfig, default_config

    base = getattr(TrainConfig(), field)
    special = [f"{info.name}: {_show(value)}" for info in list_models()
               if (value := getattr(default_config(info.name), field)) != base]
    return "; ".join([f"default: {_show(base)}", *special])


def _add_config_arguments(p: argparse.ArgumentParser) -> None:
    """The flags that make a TrainConfig (`train_config`): one set, shared by `train` and `sweep`."""
    size_rule = "the dataset's size raised to the architecture's minimum, e.g. VGG on 28×28 MNIST → 32"
    p.add_argument("--arch", help="the architecture to train, see 'cnnstudio list' "
                                  "(no default: required unless --resume)")
    p.add_argument("--dataset", help=f"a dataset name (see 'cnnstudio list') or an image folder ({_default('dataset')})")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture option, repeatable, e.g. -o batch_norm=true (default: the architecture's own)")
    p.add_argument("--epochs", type=whole_number(1, 1_000_000), help=f"epochs to train; with --resume, the new total ({_default('epochs')})")
    p.add_argument("--batch-size", type=whole_number(1, 65_536), help=f"images per training step ({_default('batch_size')})")
    p.add_argument("--lr", type=finite_number(0.0, low_open=True), help=f"learning rate ({_default('lr')})")
    p.add_argument("--momentum", type=finite_number(), help=f"SGD momentum ({_default('momentum')})")
    p.add_argument("--weight-decay", type=finite_number(), help=f"L2 weight decay ({_default('weight_decay')})")
    p.add_argument("--optimizer", choices=Optimizer.values(), help=f"the optimizer ({_default('optimizer')})")
    p.add_argument("--schedule", choices=Schedule.values(),
                   help=f"learning-rate schedule: step ×0.1 every 30 epochs, cosine to 0, or ×0.1 when validation "
                        f"accuracy stalls ({_default('schedule')})")
    p.add_argument("--init", choices=Init.values(),
                   help=f"weight initialisation: 'default' is each architecture's own, 'normal' the papers' "
                        f"N(0, 0.01) ({_default('init')})")
    p.add_argument("--init-from", metavar="RUN_DIR",
                   help="VGG: start from a trained config-A (vgg11) run, as the paper did (default: none)")
    p.add_argument("--pretrained", metavar="NAME",
                   help="fine-tune torchvision's ImageNet weights (vgg16, vgg16_bn, alexnet, googlenet, …; "
                        "sets --arch): the last layer is replaced for the dataset's classes (default: none)")
    p.add_argument("--weights", metavar="FILE",
                   help="the pretrained weights file (offline); without --pretrained, any weights file of --arch "
                        "(e.g. another run's best.pt) (default: none)")
    p.add_argument("--finetune", choices=Finetune.values(),
                   help="with pretrained weights: train all layers, the new last layer only, or the "
                        f"pretrained layers at 0.1× the LR ({_default('finetune')})")
    p.add_argument("--augment", metavar="A,B",
                   help="comma-separated augmentations: crop, flip, pca, scale (default: none); pca needs colour "
                        "images (refused on grey ones), flip mirrors images (a mirrored digit or letter changes "
                        "meaning: not for MNIST-like sets)")
    p.add_argument("--input-size", type=whole_number(1, 10**9),  # the config's schema says the real limit
                   help=f"side of the square input in pixels (default: {size_rule})")
    p.add_argument("--paper-size", action="store_true",
                   help="train at the paper's input size (224 for AlexNet, VGG, GoogLeNet) instead of the "
                        "dataset's: slower and heavier, the same information (default: off)")
    p.add_argument("--val-fraction", type=finite_number(),
                   help=f"share of the training images held out for validation when the dataset has no "
                        f"validation split ({_default('val_fraction')})")
    p.add_argument("--seed", type=whole_number(0, 2**63 - 1), help=f"seed of the initialisation, split and shuffling ({_default('seed')})")
    p.add_argument("--device", type=device_option,
                   help=f"auto (CUDA, then MPS, then the CPU), cpu, cuda, cuda:N or mps ({_default('device')})")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision on CUDA, bf16 where supported (default: on)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="compile the model with torch.compile: the first batches wait for the compile "
                        "(~15 s for LeNet-5 on 2 CPU cores), later ones run faster (+20-30%% there); "
                        "pays on long runs; Stop then acts between batches (default: off)")
    p.add_argument("--data-root", help="where datasets are downloaded and read (default: $CNNSTUDIO_DATA, or the "
                                       "user data folder)")
    p.add_argument("--sync-bn", action="store_true", default=None,
                   help="distributed on CUDA: BatchNorm statistics over all GPUs (SyncBatchNorm) (default: off)")
    p.add_argument("--no-history", action="store_true",
                   help="keep no history of the kernels and probe feature maps (RUN/history: a few dozen "
                        "small snapshots, for `cnnstudio kernels` and the window's slider) (default: kept)")
    p.add_argument("--no-dynamics", action="store_true",
                   help="record no training dynamics (RUN/dynamics: per-layer activations and gradients at sampled "
                        "steps, for `cnnstudio dynamics` and the Dynamics tab; a few %% of the fit's time) "
                        "(default: recorded)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnstudio", description=__doc__.splitlines()[0])
    from cnnstudio import __version__

    parser.add_argument("--version", action="version", version=f"cnnstudio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("list", help="architectures and datasets with their key facts")
    p.set_defaults(func=_cmd_list)

    size_rule = "the dataset's size raised to the architecture's minimum, e.g. VGG on 28×28 MNIST → 32"

    def add_network_shape(p: argparse.ArgumentParser) -> None:
        """The network's input and output as summary and graph take them."""
        p.add_argument("arch", help="an architecture (see 'cnnstudio list')")
        p.add_argument("--dataset", help="take channels, classes and input size from this dataset "
                                         f"({size_rule}; default: none, the paper's own network)")
        p.add_argument("--paper-size", action="store_true",
                       help="with --dataset: the paper's input size instead of the dataset's (default: off)")
        p.add_argument("--input", help="C,H,W (default: the dataset's, or the paper's input, e.g. 1,32,32 for "
                                       "LeNet-5)")
        p.add_argument("--num-classes", type=whole_number(1, 100_000),
                       help="output classes (default: the dataset's, or the paper's)")

    p = sub.add_parser("summary", help="every layer's output shape, parameters and MACs")
    add_network_shape(p)
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture option, repeatable, e.g. -o batch_norm=true (default: the architecture's own)")
    p.add_argument("--json", metavar="FILE", help="also write every layer (kernel, stride, padding, receptive_field, "
                                                  "shape, params, MACs) as JSON (default: none)")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("graph", help="the network as a graph: every layer a node, an Inception block's branches side "
                                     "by side, the aux heads beside the trunk (SVG, PNG, JSON)")
    add_network_shape(p)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture option, repeatable, e.g. --option batch_norm=true")
    p.add_argument("--collapse", action="append", metavar="BLOCK", help="draw this block as one box (repeatable)")
    p.add_argument("-o", "--output", metavar="net.svg|net.png", help="write the drawing (an SVG opens in a browser)")
    p.add_argument("--json", metavar="FILE", help="write the nodes (id, name, kind, shape, params, …) and edges")
    p.set_defaults(func=_cmd_graph)

    p = sub.add_parser("train", help="train an architecture on a dataset; prints the run folder")
    _add_config_arguments(p)
    p.add_argument("--estimate", action="store_true",
                   help="measure a few steps and print the time per epoch and the peak memory, without "
                        "training (default: off; every training prints the estimate and warns when the "
                        "memory would not fit)")
    p.add_argument("--out", help="the run folder (default: a new folder in the runs directory, $CNNSTUDIO_RUNS "
                                 "or the user data folder)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a stopped or finished run in its folder (default: a new run)")
    p.add_argument("--nproc", type=whole_number(1, 1024), metavar="N",
                   help="train with N processes on this machine (torchrun; N GPUs with --device cuda, else CPU "
                        "processes); --batch-size stays the global batch (default: one process)")
    p.add_argument("--dist-timeout", metavar="MINUTES",
                   help="with --nproc or under torchrun: how long a process waits for the others before the run "
                        "fails in one line (a killed or frozen process) (default: $CNNSTUDIO_DIST_TIMEOUT, or 5)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("lr-find", help="the learning-rate range test (Smith; fastai's lr_find): a few steps at "
                                       "growing LR; prints the suggested LR")
    _add_config_arguments(p)
    p.add_argument("--start-lr", type=finite_number(0.0, 1e6, low_open=True), default=1e-7,
                   help="the first step's LR (default: 1e-7)")
    p.add_argument("--end-lr", type=finite_number(0.0, 1e6, low_open=True), default=10.0,
                   help="the last step's LR (default: 10)")
    p.add_argument("--steps", type=whole_number(2, 10_000), default=100,
                   help="training steps, the LR growing exponentially; stops early when the smoothed loss "
                        "passes 4× its best (default: 100)")
    p.add_argument("--json", metavar="FILE", help='also write {"lr": [...], "loss": [...], "suggested_lr": x, …} '
                                                  "(default: none)")
    p.epilog = "-o FILE.png (or --plot FILE.png) draws the curve with the suggestion marked."
    p.add_argument("--plot", metavar="FILE.png", help="draw the curve, the suggestion marked (same as -o FILE.png) "
                                                      "(default: none)")
    p.set_defaults(func=_cmd_lr_find)

    p = sub.add_parser("sweep", help="train variants one after another (switches, grids, the tricks study), then "
                                     "compare them in a table; resumable")
    _add_config_arguments(p)
    p.add_argument("--vary", action="append", default=[], metavar="SPEC",
                   help="what to vary, repeatable: switches 'batch_norm,leaky_relu,gap,dropout=0.5' (the baseline "
                        "plus one run per switch), or a grid 'lr=0.1,0.01,0.001' (one run per value; several grids "
                        "multiply); names are the architecture's options and the training settings")
    p.add_argument("--all-on", action="store_true",
                   help="with switches: one more run with all of them at once (default: off)")
    p.add_argument("--study", action="store_true",
                   help="the tricks CNN's study as the source notes ran it: the plain sigmoid net, the baseline "
                        "(it with BatchNorm), each trick on that baseline (Leaky ReLU, global average pooling, "
                        "dropout 0.5, two 3×3 for each 5×5, multi-scale block) and all tricks together: 8 runs on "
                        "--dataset for --epochs each, compared with the baseline (default: off)")
    p.add_argument("--width", type=float, metavar="W",
                   help="with --study: the tricks CNN's channel multiplier in every run; 0.25 gives "
                        "16-32-64-128-256-256 channels and trains in seconds an epoch on a CPU (default: 1, the "
                        "notes' 95 M-parameter net)")
    p.add_argument("--resume", metavar="QUEUE",
                   help="continue a sweep (its folder or queue.json): the half-done run resumes, done ones are "
                        "skipped (default: a new sweep)")
    p.add_argument("--retry-failed", action="store_true",
                   help="with --resume: train the failed runs again, in new folders (default: skip them)")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("classify", help="top-k classes of image files with a trained run, or ImageNet weights",
                       usage="%(prog)s [-h] [options] (RUN_DIR | --pretrained NAME) IMAGE [IMAGE ...]")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (with --pretrained: the first image)")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files (PNG, JPEG, …)")
    p.add_argument("--pretrained", metavar="NAME",
                   help="torchvision's ImageNet weights instead of a run: alexnet, vgg11 … vgg19, vgg11_bn … "
                        "vgg19_bn, googlenet (from torch hub's cache, downloaded when missing)")
    p.add_argument("--weights", metavar="FILE.pth", help="with --pretrained: a local weights file (offline)")
    p.add_argument("--top", type=whole_number(1, 1000), default=5, help="how many classes to show per image (default: 5)")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="the checkpoint: best validation accuracy or the latest (default: best)")
    p.add_argument("--tencrop", action="store_true",
                   help="average over ten crops, as AlexNet's paper did (default: off); half are mirror images, "
                        "which hurts on digits and letters")
    p.add_argument("--no-invert", action="store_true",
                   help="keep a grey image's colours even when its ground is the opposite of the training "
                        "images' (by default a digit drawn black on white is inverted for an MNIST model)")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("export", help="a run's model as ONNX or a torch.export program (.pt2), verified")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", choices=("onnx", "pt2"), default="onnx",
                   help="onnx (needs pip install 'cnnstudio[export]') or pt2 (default: onnx)")
    p.add_argument("-o", "--output", metavar="FILE", help="the file to write (default: RUN_DIR/model.FORMAT)")
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("runs", help="past runs: status, progress (epoch and batch of the saved checkpoint), best "
                                    "validation accuracy, key settings; one line per unreadable folder")
    p.add_argument("--root", help="runs directory (default: $CNNSTUDIO_RUNS, or the user data folder)")
    p.set_defaults(func=_cmd_runs)

    from cnnstudio.training.experiments.compare import SORT_KEYS

    p = sub.add_parser("compare", help="runs side by side: the settings they differ in, best top-1 / top-5, time, "
                                       "images/s; best first")
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="run folders, or names of runs in the runs directory (default: every run there)")
    p.add_argument("--root", help="runs directory (default: $CNNSTUDIO_RUNS, or the user data folder)")
    p.add_argument("--sort", choices=tuple(SORT_KEYS), default="best_top1",
                   help="the column to sort by, best first (default: best_top1)")
    p.add_argument("--baseline", metavar="RUN",
                   help="add a Δ top-1 column: each run's best top-1 minus this run's (default: none)")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV (accuracies as fractions, seconds)")
    p.set_defaults(func=_cmd_compare)

    from cnnstudio.cli_inspect import add_commands

    add_commands(sub)  # evaluate, explain, neighbours, dream
    return parser


_HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def _no_display() -> bool:
    """True on Linux/BSD when there is nowhere to show a window (Qt would abort with exit 134)."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return False
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if platform in _HEADLESS_PLATFORMS:
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (`cnnstudio list | head -2`): no traceback.

    Python's own advice: point stdout at devnull so the interpreter's final flush is quiet.
    Exit 141 = 128 + SIGPIPE, what a command killed by the broken pipe would return.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cnnstudio` console script and `python -m cnnstudio`."""
    from cnnstudio.files import READABLE_ERRORS

    for stream in (sys.stdout, sys.stderr):
        try:  # a name that is not UTF-8 (shown as caf\xe9), or a terminal that is not, never ends in a traceback
            stream.reconfigure(errors=READABLE_ERRORS)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a refused option (one line said): its code, returned
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    args.argv = argv  # train --nproc hands the same arguments to torchrun
    if args.command is None:
        if _no_display():
            print("cnnstudio: no display: the app needs a graphical session — set DISPLAY (or WAYLAND_DISPLAY), "
                  "or use the command line (cnnstudio --help)", file=sys.stderr)
            return EXIT_USAGE
        from cnnstudio.gui.app import main as app_main

        return app_main(sys.argv[:1])
    previous_term = _terminate_like_ctrl_c()
    try:
        _check_outputs(args)
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except CnnStudioError as err:  # one line, whatever names it quotes
        print(f"cnnstudio: {readable(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except _Terminated:  # SIGTERM before or after training (a download, the estimate)
        print("\ncnnstudio: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:  # Ctrl-C before training (say, during a download)
        print("\ncnnstudio: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous_term is not None:
            import signal

            signal.signal(signal.SIGTERM, previous_term)


class _Terminated(KeyboardInterrupt):
    """SIGTERM outside a fit: unwinds like Ctrl-C (temp files and locks released), and says so."""


def _terminate_like_ctrl_c() -> object:
    """Make SIGTERM raise `_Terminated` in the main thread (a fit installs its own stop handler);
    returns the handler it replaced, or None where signals cannot be set (not the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def terminated(_signum: int, _frame: object) -> None:
        raise _Terminated

    return signal.signal(signal.SIGTERM, terminated)


# ---------------------------------------------------------------- the console's view of a fit

def _saved_progress(result: FitResult) -> str:
    """Where the saved checkpoint stands ("stopped in epoch 2 at batch 10/36; 1 / 5 epochs done")."""
    from cnnstudio.training.store.runs import open_run

    try:
        return open_run(result.run_dir).progress_text
    except (OSError, CnnStudioError):
        return f"{result.epochs_done} epoch(s) done"

def _percent(value: float | None) -> str:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return "–"  # no validation set: never "nan %"
    return f"{100 * value:.1f} %"


class ConsoleProgress(Callback):
    """The command line's view: a one-line progress bar per epoch, then one line per epoch.

        epoch 2/3  train loss 0.21 acc 93.4 %  val loss 0.18 acc 94.8 % (top-5 99.6 %)  12.3 s  4,210 img/s

    The bar (redrawn in place with `\r`) is drawn only on a terminal unless `bar=True`:
    in a log file it would be hundreds of lines per epoch.
    """

    def __init__(self, stream: TextIO | None = None, *, width: int = 24, bar: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.bar = bar if bar is not None else self.stream.isatty()
        self._epochs = 0
        self._bar_shown = False
        self._last_draw = 0.0
        self._last_message: str | None = None

    def loading(self, done: int, total: int, message: str) -> None:
        """Dataset download / folder scan progress (a `load_dataset` progress function)."""
        now = time.monotonic()
        if self.bar:
            if done < total and now - self._last_draw < 1 / 15:
                return
            self._last_draw = now
            share = f" {100 * done / total:.0f} %" if total > 0 else ""
            self._write(f"\r\033[K{readable(message)}{share}")
            self._bar_shown = True
        elif message != self._last_message:
            self._last_message = message  # a log gets each step once, not every percent
            self._write(f"{readable(message)}\n")

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        self._clear_bar()
        self._epochs = info.epochs
        resumed = f", resuming after epoch {info.start_epoch}" if info.start_epoch else ""
        self._write(
            readable(f"training {info.arch} on {info.spec.name} ({len(info.spec.classes)} classes) at "
                     f"{info.input_size}×{info.input_size}, {info.num_params:,} parameters, {info.device}, "
                     f"{info.precision}{resumed}") + f"\nrun folder: {readable(str(info.run_dir))}\n"
        )

    def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
        # A terminal redraw costs little, but 30 a second is plenty to look smooth.
        now = time.monotonic()
        if not self.bar or (stats.batch < stats.num_batches and now - self._last_draw < 1 / 15):
            return
        self._last_draw = now
        filled = round(self.width * stats.batch / max(stats.num_batches, 1))
        bar = "#" * filled + "." * (self.width - filled)
        self._write(
            f"\repoch {stats.epoch}/{self._epochs} [{bar}] {stats.batch}/{stats.num_batches}  "
            f"loss {stats.loss:.3f} acc {_percent(stats.accuracy)}  {stats.images_per_s:,.0f} img/s  "
            f"eta {stats.eta_s:.0f} s "
        )
        self._bar_shown = True

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        top5 = f" (top-5 {_percent(stats.val_top5)})" if stats.val_top5 is not None else ""
        aux = ""
        if stats.aux_losses:
            aux = "  aux loss " + "/".join(f"{loss:.2f}" for loss in stats.aux_losses)
        best = "  *" if stats.is_best else ""
        self._clear_bar()
        val = (f"val loss {stats.val_loss:.2f} acc {_percent(stats.val_acc)}{top5}"
               if stats.val_acc == stats.val_acc else "no validation")
        self._write(
            f"epoch {stats.epoch}/{stats.epochs}  train loss {stats.train_loss:.2f} acc {_percent(stats.train_acc)}  "
            f"{val}{aux}  "
            f"{stats.seconds:.1f} s  {stats.images_per_s:,.0f} img/s  lr {stats.lr:.3g}{best}\n"
        )

    def on_notice(self, trainer: Trainer, message: str) -> None:
        self._clear_bar()
        self._write(f"note: {readable(message)}\n")

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self._clear_bar()
        if result.stopped_early:
            self._write(readable(f"{result.reason}: {_saved_progress(result)}") + "\n")

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        self._clear_bar()

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._write("\r\033[K" if self.stream.isatty() else "\n")  # erase the bar, or end its line
            self._bar_shown = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
