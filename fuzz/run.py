"""Coverage-guided fuzzing with atheris (libFuzzer) of one target from fuzz/targets.py.

    .venv/bin/python fuzz/run.py sip [--seconds 600] [--runs N] [--seed 1]

The corpus starts from the seeds in fuzz/targets.py (plus, for sip, the RFC 4475 torture messages
in ../shared/sip-torture/, read in place) and grows in a temporary directory. RSS is capped at
1 GiB and each input at 2 s: a crash, hang or memory blow-up exits non-zero with the input saved.
It prints: fuzz TARGET: N executions in S s; the exit status is 0 only without a crash."""

from __future__ import annotations

import argparse
import atexit
import sys
import tempfile
import time
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

with atheris.instrument_imports(include=["media", "frontdesk.config", "fuzz"]):
    from fuzz.targets import TARGETS, seeds  # noqa: E402

TORTURE = HERE.parent.parent / "shared" / "sip-torture" / "rfc4475"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--runs", type=int, default=-1, help="stop after this many executions")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    target = TARGETS[args.target]
    count = [0]
    start = time.monotonic()

    def one(data: bytes) -> None:
        count[0] += 1
        target(data)

    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    for i, seed in enumerate(seeds(args.target)):
        (corpus / f"seed{i}").write_bytes(seed)
    dirs = [str(corpus)] + ([str(TORTURE)] if args.target == "sip" and TORTURE.is_dir() else [])
    libfuzzer = [sys.argv[0], f"-seed={args.seed}", f"-max_total_time={args.seconds}", f"-runs={args.runs}",
                 "-rss_limit_mb=1024", "-timeout=2", "-max_len=70000", f"-artifact_prefix={corpus}/", "-print_final_stats=0",
                 *dirs]
    # printed on any exit; a crash, hang or memory blow-up also makes the exit status non-zero
    atexit.register(lambda: print(f"fuzz {args.target}: {count[0]} executions in {time.monotonic() - start:.0f} s",
                                  flush=True))
    atheris.Setup(libfuzzer, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
