"""The command line: `cnnstudio [list | summary | train | classify | runs]`; no command opens the app.

It is a thin face on the engine and never imports Qt (only `cnnstudio` with no command
hands over to the app). A user error prints one line on stderr and exits 2 — never a
traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from cnnstudio.errors import CnnStudioError

if TYPE_CHECKING:
    from cnnstudio.training.config import TrainConfig

__all__ = ["main"]

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, like every other error here."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


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

    print("Architectures")
    for info in list_models():
        opts = ", ".join(f"{o.name}={o.default}" for o in info.options) or "-"
        print(f"  {info.name:<13} {info.title} — {info.paper} ({info.year}); {info.depth} weight layers; "
              f"input {info.default_size}×{info.default_size} (min {info.min_size}); options: {opts}")
    print("\nDatasets")
    for ds in list_datasets():
        where = "downloads on first use" if ds.downloadable else "offline, ships with the install"
        print(f"  {ds.name:<13} {ds.title} — {ds.num_classes} classes, {ds.channels}×{ds.native_size}×"
              f"{ds.native_size}; {where}")
    print("  PATH          any image folder: one sub-folder per class (or train/ and val/ inside)")
    return 0


def _summary_input(args: argparse.Namespace) -> tuple[int, int, int | None]:
    """(channels, classes, size) from --input / --dataset / --num-classes."""
    from cnnstudio.models.catalog import get_info

    info = get_info(args.arch)  # unknown names fail first, with the list of valid ones
    channels, classes, size = info.paper_channels, info.paper_classes, None  # the paper's own net
    if args.dataset:
        from cnnstudio.data.catalog import get_info as dataset_info

        ds = dataset_info(args.dataset)
        channels, classes = ds.channels, ds.num_classes
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


def _cmd_summary(args: argparse.Namespace) -> int:
    from cnnstudio.inspect.summary import format_summary, summarize_arch

    channels, classes, size = _summary_input(args)
    summary = summarize_arch(args.arch, in_channels=channels, num_classes=classes, input_size=size,
                             **_parse_options(args.option))
    print(format_summary(summary))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from cnnstudio.training.callbacks import ConsoleProgress
    from cnnstudio.training.trainer import Trainer, load_training_data

    console = ConsoleProgress()
    if args.resume:
        from cnnstudio.training.runs import check_not_in_use, open_run

        config = open_run(args.resume).config
        check_not_in_use(args.resume)  # before the data loads; the trainer's lock is the guard
        if args.epochs is not None:
            config = config.replace(epochs=args.epochs)
        trainer = Trainer(config, callbacks=[console], resume_from=args.resume,
                          bundle=load_training_data(config.validate(), progress=console.loading))
    else:
        from cnnstudio.training.run_dirs import check_new_run_dir, ensure_runs_root
        from cnnstudio.training.runs import default_runs_dir

        config = train_config(args)
        out = Path(args.out) if args.out else None
        # Refused before the data loads: a bad --out, an unwritable runs folder.
        check_new_run_dir(out) if out is not None else ensure_runs_root(default_runs_dir())
        # Loaded here so a download or folder scan shows its progress before training starts.
        trainer = Trainer(config, callbacks=[console], run_dir=out,
                          bundle=load_training_data(config.validate(), progress=console.loading))
    result = _fit_with_ctrl_c_as_stop(trainer)
    if result.stopped_early and result.reason:
        print(f"stopped: {result.reason}", file=sys.stderr)
    print(result.run_dir)
    return 0


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The `train` command's settings: the architecture's quick-start recipe, then the options given."""
    from cnnstudio.training.config import default_config

    if not args.arch:
        raise CnnStudioError("train needs --arch (see 'cnnstudio list'), or --resume RUN_DIR")
    fields = {
        "arch": args.arch,
        "arch_options": _parse_options(args.option),
        "dataset": args.dataset,
        "data_root": args.data_root,
        "input_size": args.input_size,
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
    }
    given = {k: v for k, v in fields.items() if v is not None}
    return default_config(args.arch).replace(**given)


def _fit_with_ctrl_c_as_stop(trainer: object) -> object:
    """Ctrl-C or SIGTERM (`timeout`, `kill`, a scheduler) asks the trainer to stop after the
    current batch: it saves `last.pt` and marks the run stopped, so it can be resumed; a
    second one interrupts at once."""
    import signal

    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT), signal.SIGTERM: signal.getsignal(signal.SIGTERM)}

    def stop(signum: int, _frame: object) -> None:
        again = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        print(f"\nstopping after this batch ({again} again to abort)…", file=sys.stderr)
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

    predictor = Predictor.from_run(args.run_dir, which=args.which, auto_invert=not args.no_invert)
    failed = 0
    for result in predictor.predict_files(args.images, top_k=args.top, tencrop=args.tencrop):
        if isinstance(result, CnnStudioError):
            print(f"cnnstudio: {result}", file=sys.stderr)
            failed += 1
            continue
        print(result.path + (f"  ({result.note})" if result.note else ""))
        for name, prob in result.topk:
            print(f"  {name}  {prob:.4f}")
    return EXIT_USAGE if failed else 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from cnnstudio.training.runs import default_runs_dir, list_runs

    from cnnstudio.training.run_files import readable

    runs = list_runs(args.root)
    if not runs:
        print(f"no runs yet in {args.root or default_runs_dir()}")
        return 0
    for run in runs:
        if not run.readable:
            print(f"{readable(str(run.path))}  unreadable: {run.problem}")
            continue
        best = f"{run.best_val_acc * 100:.1f} %" if run.best_val_acc is not None else "–"
        notes = ""
        if run.skipped_files:
            notes += f"  ({run.skipped_files:,} unusable files skipped)"
        if run.problems:
            notes += "  note: " + "; ".join(run.problems)
        print(f"{readable(str(run.path))}  {run.variant}  {readable(run.dataset)}  {run.status}  {run.progress_text}  "
              f"best val {best}  [{run.hyperparameters_text}]{notes}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnstudio", description=__doc__.splitlines()[0])
    from cnnstudio import __version__

    parser.add_argument("--version", action="version", version=f"cnnstudio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("list", help="architectures and datasets with their key facts")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("summary", help="every layer's output shape, parameters and MACs")
    p.add_argument("arch")
    p.add_argument("--dataset", help="take channels and classes from this dataset")
    p.add_argument("--input", help="C,H,W (default: the paper's input, e.g. 1,32,32 for LeNet-5)")
    p.add_argument("--num-classes", type=int)
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture option, e.g. -o batch_norm=true")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("train", help="train an architecture on a dataset; prints the run folder")
    p.add_argument("--arch")
    p.add_argument("--dataset", help="a dataset name (see 'cnnstudio list') or an image folder")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"))
    p.add_argument("--schedule", choices=("constant", "step", "cosine", "plateau"))
    p.add_argument("--init", choices=("default", "normal", "kaiming", "xavier"))
    p.add_argument("--init-from", metavar="RUN_DIR", help="VGG: start from a trained config-A run")
    p.add_argument("--augment", metavar="A,B", help="comma-separated: crop,flip,pca,scale")
    p.add_argument("--input-size", type=int)
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision on CUDA (default on)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="compile the model with torch.compile: the first batches wait for the compile "
                        "(~15 s for LeNet-5 on 2 CPU cores), later ones run faster (+20-30%% there); "
                        "pays on long runs")
    p.add_argument("--data-root", help="where datasets are downloaded and read")
    p.add_argument("--out", help="the run folder (default: a new folder in the runs directory)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly where it stopped")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("classify", help="top-k classes of image files with a trained run")
    p.add_argument("run_dir")
    p.add_argument("images", nargs="+")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--which", choices=("best", "last"), default="best")
    p.add_argument("--tencrop", action="store_true", help="average over ten crops (AlexNet)")
    p.add_argument("--no-invert", action="store_true",
                   help="keep a grey image's colours even when its ground is the opposite of the training "
                        "images' (by default a digit drawn black on white is inverted for an MNIST model)")
    p.set_defaults(func=_cmd_classify)

    p = sub.add_parser("runs", help="past runs: status, progress (epoch and batch of the saved checkpoint), best "
                                    "validation accuracy, key settings; one line per unreadable folder")
    p.add_argument("--root", help="runs directory (default: the user data folder)")
    p.set_defaults(func=_cmd_runs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cnnstudio` console script and `python -m cnnstudio`."""
    from cnnstudio.training.run_files import READABLE_ERRORS

    for stream in (sys.stdout, sys.stderr):
        try:  # a name that is not UTF-8 (shown as caf\xe9), or a terminal that is not, never ends in a traceback
            stream.reconfigure(errors=READABLE_ERRORS)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    args = build_parser().parse_args(argv)
    if args.command is None:
        from cnnstudio.gui.app import main as app_main

        return app_main(sys.argv[:1])
    try:
        return args.func(args)
    except CnnStudioError as err:
        print(f"cnnstudio: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C before training (say, during a download)
        print("\ncnnstudio: interrupted", file=sys.stderr)
        return 130
