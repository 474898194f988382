"""Call records: kept in the clinic database (tools.records) from the moment a call is answered.

A call is stored as "failed" when it starts and replaced by its real record when it ends, so a
call the process never finished (kill -9, power loss) shows as failed, not missing. A JSON-lines
copy in <data_dir>/calls.jsonl is optional (``storage.call_log_file``); each line is sealed like the
database content when encryption at rest is on, but it is not
purged, so leave it off where transcripts are PHI."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path

from tools.records import record_json

log = logging.getLogger("frontdesk.calllog")

BATCH_WAIT_S = 0.1  # how long the writer lets records gather before a transaction


def new_record_id() -> str:
    """A call's own id. The Call-ID (or a stream's callSid) comes from the other side, and a
    reused one must never replace an earlier call's record or recording."""
    return "c" + uuid.uuid4().hex[:20]


@dataclass
class CallRecord:
    external_id: str  # the SIP Call-ID, Twilio callSid or WebRTC id the call came with
    caller: str
    called: str
    remote: str
    transport: str
    call_id: str = field(default_factory=new_record_id)  # the record's own id (the database key)
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
    caller_number: str = ""  # E.164 from the caller ID, when it is a number
    ingress: str = "sip"
    node: str = ""  # the frontdesk node (cluster.node_id)
    misunderstandings: int = 0
    summary: str = ""
    recording: str = ""

    def snapshot(self) -> dict:
        """The record as a dict for the writer thread: its lists and dicts copied one level down
        (what the call still changes), without ``dataclasses.asdict``'s deep copy, which cost
        more of the event loop's time than the rest of a call's setup and teardown."""
        values = self.__dict__
        return {name: value.copy() if isinstance(value := values[name], (list, dict)) else value for name in _FIELDS}

    def add_turn(self, speaker: str, text: str, **extra) -> None:
        t = time.time()
        base = self.answered_at or self.started_at
        self.turns.append({"speaker": speaker, "text": text, "t_ms": int((t - base) * 1000), **extra})


_FIELDS = tuple(f.name for f in fields(CallRecord))


class CallLog:
    """Writes records on its own thread, in order, so the event loop never waits for the database."""

    def __init__(self, store, jsonl: Path | None = None):
        self.store = store
        self.path = jsonl
        if jsonl is not None:
            jsonl.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="calllog", daemon=True)
        self._thread.start()
        self.errors = 0

    def start(self, record: CallRecord) -> None:
        """The call was answered: it exists from now on, as failed until it ends properly."""
        provisional = record.snapshot()
        provisional.update(outcome="failed", end_reason="the server stopped during the call", turns=[])
        self._queue.put((provisional, False))

    def write(self, record: CallRecord) -> None:
        self._queue.put((record.snapshot(), True))

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # let the next records gather: one transaction for many calls costs little more than
            # one for a single call, and at a hundred calls a second this thread's time per call
            # (and its share of the interpreter lock, which the event loop needs) halves
            time.sleep(BATCH_WAIT_S)
            while len(batch) < 500:  # whatever else queued up goes in the same transaction
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is None for item in batch)
            items = [item for item in batch if item is not None]
            try:
                if items:
                    # a call's final record replaces its provisional one, so keep only the latest per call
                    latest: dict[str, dict] = {}
                    for data, _ in items:
                        latest[data["call_id"]] = data
                    self.store.save_many(list(latest.values()))
                    if self.path is not None:
                        with open(self.path, "a") as f:
                            for data, final in items:
                                if final:
                                    line = json.dumps(data, default=record_json)
                                    cipher = getattr(self.store, "cipher", None)
                                    f.write((cipher.seal(line) if cipher is not None and cipher.enabled else line) + "\n")
            except Exception as exc:  # the disk is full, the database is gone: the calls go on
                self.errors += 1
                if self.errors == 1 or self.errors % 100 == 0:
                    log.error("cannot store call record %s (%d so far): %s", items[0][0].get("call_id") if items else "?",
                              self.errors, exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop:
                return

    def flush(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)
