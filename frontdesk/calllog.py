"""Call records: one JSON object per call, appended to <data_dir>/calls.jsonl when it ends."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class CallRecord:
    call_id: str
    caller: str
    called: str
    remote: str
    transport: str
    started_at: float = field(default_factory=time.time)
    answered_at: float | None = None
    ended_at: float | None = None
    codec: str = ""
    outcome: str = ""
    ended_by: str = ""
    end_reason: str = ""
    bye_status: int | None = None
    turns: list[dict] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    latency: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    qualification: dict = field(default_factory=dict)
    tool_calls: list[dict] = field(default_factory=list)
    booking: dict | None = None
    transfer: dict | None = None
    rtp: dict = field(default_factory=dict)
    barge_in: dict = field(default_factory=dict)
    holds: list[dict] = field(default_factory=list)

    def add_turn(self, speaker: str, text: str, **extra) -> None:
        t = time.time()
        base = self.answered_at or self.started_at
        self.turns.append({"speaker": speaker, "text": text, "t_ms": int((t - base) * 1000), **extra})


class CallLog:
    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / "calls.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: CallRecord) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(asdict(record)) + "\n")
            f.flush()

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
