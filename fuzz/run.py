"""Coverage-guided fuzzing with atheris (libFuzzer) of one target from fuzz/targets.py.

    .venv/bin/python fuzz/run.py sip [--seconds 600] [--runs N] [--seed 1]

The corpus starts from the seeds in fuzz/targets.py (plus, for sip, the RFC 4475 torture messages
in ../shared/sip-torture/, read in place) and grows in a temporary directory. RSS is capped at
1 GiB above the start and each input at 2 s: a crash, hang or memory blow-up exits non-zero with the input saved.
libFuzzer's last line, "Done N runs in S second(s)", is the figure; the exit status is 0 only
without a crash. `--no-coverage` mutates without coverage feedback (about 100x faster): `make fuzz`
grows a corpus with coverage first, then mutates that corpus blind."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

# coverage feedback from the module under test only: instrumenting everything costs 3-5x the speed
MODULES = {"sip": "media.sip.message", "sdp": "media.sdp", "rtp": "media.rtp", "rtcp": "media.rtcp",
           "dtmf": "media.dtmf", "srtp": "media.srtp", "config": "frontdesk.config"}
_which = None if "--no-coverage" in sys.argv else next((a for a in sys.argv[1:] if a in MODULES), None)
if _which:
    with atheris.instrument_imports(include=[MODULES[_which]]):
        __import__(MODULES[_which])
from fuzz.targets import TARGETS, seeds  # noqa: E402

TORTURE = HERE.parent.parent / "shared" / "sip-torture" / "rfc4475"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--runs", type=int, default=-1, help="stop after this many executions")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", help="the corpus directory to grow (default: a new temporary one)")
    ap.add_argument("--no-coverage", action="store_true", help="no instrumentation: faster, blind mutation")
    args = ap.parse_args()
    target = TARGETS[args.target]
    count = [0]
    start = time.monotonic()

    def one(data: bytes) -> None:
        count[0] += 1
        target(data)

    corpus = Path(args.corpus) if args.corpus else Path(tempfile.mkdtemp(prefix=f"fuzz-{args.target}-"))
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds(args.target)):
        (corpus / f"seed{i}").write_bytes(seed)
    dirs = [str(corpus)] + ([str(TORTURE)] if args.target == "sip" and TORTURE.is_dir() else [])
    # 1 GiB above the peak this process inherited: Linux keeps the parent's peak RSS across exec
    # (pytest with the models loaded has one), and libFuzzer reads that peak
    import resource
    rss_limit = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + 1024
    libfuzzer = [sys.argv[0], f"-seed={args.seed}", f"-max_total_time={args.seconds}", f"-runs={args.runs}",
                 f"-rss_limit_mb={rss_limit}", "-timeout=2", "-max_len=4096", f"-artifact_prefix={corpus}/", "-print_final_stats=0",
                 *dirs]
    atheris.Setup(libfuzzer, one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
