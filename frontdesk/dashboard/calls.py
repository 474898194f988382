"""The calls: the list with its filters, a call's transcript and timings, its export and recording."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tools.records import OUTCOMES, CallRow, Filters

from .common import LATENCY_PARTS, Dash, Me

log = logging.getLogger("frontdesk.dashboard")


def _nice_step(span: float, ticks: int = 5) -> int:
    for step in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if span / step <= ticks:
            return step
    return 100000


def latency_chart(latency: list[dict]) -> dict | None:
    """Geometry of the per-turn stacked bar chart (drawn by the template as inline SVG)."""
    if not latency:
        return None
    label_w, right_w, bar_h, gap, top, width = 64, 80, 18, 8, 24, 720
    plot_w = width - label_w - right_w
    rows = []
    for i, t in enumerate(latency):
        parts = [(key, name, max(0, int(t.get(key) or 0))) for key, name in LATENCY_PARTS]
        total = t.get("total_ms")
        rows.append((i, parts, int(total) if isinstance(total, (int, float)) else sum(p[2] for p in parts), t))
    scale_max = max(max(sum(p[2] for p in parts), total) for _, parts, total, _ in rows) or 1
    step = _nice_step(scale_max)
    scale_max = -(-scale_max // step) * step
    px = plot_w / scale_max
    bars = []
    for i, parts, total, t in rows:
        y = top + i * (bar_h + gap)
        x = label_w
        segs = []
        for key, name, ms in parts:
            w = ms * px
            segs.append({"x": round(x, 1), "w": round(w, 1), "cls": key.removesuffix("_ms"), "name": name, "ms": ms})
            x += w
        bars.append({"y": y, "label": f"turn {i + 1}", "segs": segs, "total": total, "text_x": round(x + 6, 1),
                     "filler": bool(t.get("filler")), "intent": str(t.get("intent") or "")})
    height = top + len(rows) * (bar_h + gap) + 10
    ticks = [{"x": round(label_w + v * px, 1), "v": v} for v in range(0, scale_max + 1, step)]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks, "bar_h": bar_h, "top": top,
            "bottom": height - 10, "legend": [(k.removesuffix("_ms"), n) for k, n in LATENCY_PARTS]}


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if m.group(1):
        start = int(m.group(1))
        end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
    else:
        start, end = max(0, size - int(m.group(2))), size - 1
    return (start, end) if start <= end and start < size else None


def routes(d: Dash) -> APIRouter:
    r = APIRouter()

    def local_day_start(d: date) -> datetime:
        return datetime.combine(d, time(0), d.tz()).astimezone(timezone.utc).replace(tzinfo=None)

    @r.get("/calls")
    def calls(request: Request, me: Me = Depends(d.me_dep)):
        qp = request.query_params
        errors = []
        f = Filters(limit=200)
        day_from = qp.get("from", "").strip()
        day_to = qp.get("to", "").strip()
        for label, raw, attr, shift in (("From", day_from, "since", 0), ("To", day_to, "until", 1)):
            if raw:
                try:
                    setattr(f, attr, local_day_start(date.fromisoformat(raw) + timedelta(days=shift)))
                except ValueError:
                    errors.append(f"{label}: expected a date (YYYY-MM-DD)")
        outcome = qp.get("outcome", "")
        f.outcome = outcome if outcome in OUTCOMES else ""
        reasons = d.store.handoff_reasons()
        reason = qp.get("reason", "")
        f.handoff_reason = reason if reason in reasons else ""
        rows = d.store.list(f)
        return d.render(request, "calls.html", me, rows=rows, errors=errors, reasons=reasons, limit=f.limit,
                        filters={"from": day_from, "to": day_to, "outcome": f.outcome, "reason": f.handoff_reason})

    def get_call(call_id: str) -> CallRow:
        row = d.store.get(call_id)
        if row is None:
            raise StarletteHTTPException(404, "No such call.")
        return row

    def open_content(row: CallRow) -> tuple[dict, str]:
        """(the record, "") or ({}, why it cannot be shown)."""
        if not row.content:
            return {}, "transcript deleted (retention)" if row.purged_at else "no transcript stored for this call"
        try:
            return d.store.content(row), ""
        except Exception as exc:  # a missing or wrong key: say so, never crash the page
            return {}, f"transcript unavailable: {exc}"

    def recording_path(row: CallRow, record: dict) -> Path | None:
        raw = row.recording or record.get("recording") or ""
        if not raw:
            return None
        path = Path(raw)
        return path if path.is_file() else None

    # the suffix routes come first: a SIP Call-ID may itself contain '/'
    @r.get("/calls/{call_id:path}/recording.wav")
    def recording(call_id: str, request: Request, me: Me = Depends(d.me_dep)):
        row = get_call(call_id)
        record, _ = open_content(row)
        path = recording_path(row, record)
        if path is None:
            raise StarletteHTTPException(404, "No recording for this call.")
        data = path.read_bytes()
        if not data.startswith(b"RIFF"):
            try:
                data = d.store.cipher.open_bytes(data)
            except Exception:
                raise StarletteHTTPException(500, "The recording cannot be decrypted with the configured key.")
        rng = request.headers.get("range")
        if rng is None or rng.replace(" ", "").startswith("bytes=0-"):
            # one audit event per listen: the player's first request starts at byte 0, seeks do not
            d.store.audit(me.username, "play_recording", call_id=row.call_id)
        headers = {"Accept-Ranges": "bytes"}
        if rng:
            span = _parse_range(rng, len(data))
            if span is None:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
            a, b = span
            headers["Content-Range"] = f"bytes {a}-{b}/{len(data)}"
            return Response(data[a:b + 1], status_code=206, media_type="audio/wav", headers=headers)
        return Response(data, media_type="audio/wav", headers=headers)

    @r.get("/calls/{call_id:path}/export.json")
    def export(call_id: str, me: Me = Depends(d.me_dep)):
        row = get_call(call_id)
        record, why = open_content(row)
        columns = row.model_dump(mode="json", exclude={"content"})
        d.store.audit(me.username, "export_call", call_id=row.call_id)
        log.info("dashboard: %s exported call %s", me.username, row.call_id)
        body = {"call": columns, "record": record or None, "note": why or None,
                "exported_by": me.username, "exported_at": datetime.now(timezone.utc).isoformat()}
        name = re.sub(r"[^A-Za-z0-9._-]", "_", row.call_id)[:80] or "call"
        return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="call-{name}.json"'})

    @r.get("/calls/{call_id:path}")
    def call_detail(call_id: str, request: Request, me: Me = Depends(d.me_dep)):
        row = get_call(call_id)
        record, why = open_content(row)
        d.store.audit(me.username, "view_call", call_id=row.call_id, detail="" if record else (why or "no content"))
        log.info("dashboard: %s viewed call %s", me.username, row.call_id)
        qual = record.get("qualification") or {}
        tasks = []
        if d.calendar is not None:
            tasks = [t for t in d.calendar.callbacks() if t.call_id == row.call_id]
        return d.render(request, "call.html", me, row=row, record=record, why=why, qualification=qual,
                        turns=record.get("turns") or [], tool_calls=record.get("tool_calls") or [],
                        chart=latency_chart(record.get("latency") or []),
                        has_recording=recording_path(row, record) is not None, tasks=tasks)

    return r
