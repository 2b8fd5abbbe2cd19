"""Command line: `python -m emulator --port 4010 --train-file PATH` serves until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from emulator.server import start_emulator

DEFAULT_TRAIN_FILE = (
    Path(__file__).resolve().parent.parent / "examples" / "drugreview" / "openai" / "train.jsonl"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4010)
    parser.add_argument(
        "--train-file",
        type=Path,
        default=DEFAULT_TRAIN_FILE,
        help="JSON Lines fine-tuning file for the reference model; "
        "'' disables it (default: %(default)s)",
    )
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="latency added to every model call"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--control-plane-step-seconds",
        type=float,
        default=0.0,
        help="seconds a customization job / provisioned model stays in each status "
        "(default: %(default)s, as fast as training allows)",
    )
    args = parser.parse_args(argv)

    train_file = args.train_file if str(args.train_file) not in ("", ".") else None
    if train_file is not None and not train_file.is_file():
        parser.error(f"training file not found: {train_file} (pass --train-file '' to skip)")
    emulator = start_emulator(
        args.host,
        args.port,
        train_file,
        faults={"latency_ms": args.latency_ms, "seed": args.seed},
        seed=args.seed,
        control_plane_step_seconds=args.control_plane_step_seconds,
    )
    done = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(f"emulator ready on {emulator.url}", flush=True)
    done.wait()
    emulator.stop()
    print("emulator stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
