"""Say a clinic's weekly opening hours in words."""

from __future__ import annotations

DAY_NAMES = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
             "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}
ORDER = list(DAY_NAMES)


def spoken_time(hhmm: str) -> str:
    h, m = int(hhmm[:2]), int(hhmm[3:])
    suffix = "AM" if h < 12 else "PM"
    h12 = h % 12 or 12
    return f"{h12} {suffix}" if m == 0 else f"{h12}:{m:02d} {suffix}"


def describe_hours(hours: dict[str, tuple[str, str] | None]) -> str:
    groups: list[tuple[list[str], tuple[str, str] | None]] = []
    for day in ORDER:
        value = hours.get(day)
        if groups and groups[-1][1] == value:
            groups[-1][0].append(day)
        else:
            groups.append(([day], value))
    open_parts, closed = [], []
    for days, value in groups:
        label = DAY_NAMES[days[0]] if len(days) == 1 else f"{DAY_NAMES[days[0]]} to {DAY_NAMES[days[-1]]}"
        if value is None:
            closed.extend(days)
        else:
            open_parts.append(f"{label} from {spoken_time(value[0])} to {spoken_time(value[1])}")
    if not open_parts:
        return "We don't have regular opening hours at the moment."
    text = "We're open " + (open_parts[0] if len(open_parts) == 1 else ", ".join(open_parts[:-1]) + ", and " + open_parts[-1]) + "."
    if set(closed) == {"sat", "sun"}:
        text += " We're closed on weekends."
    elif closed:
        text += " We're closed on " + ", ".join(DAY_NAMES[d] for d in closed) + "."
    return text


def hours_on(hours: dict[str, tuple[str, str] | None], day: str, label: str | None = None) -> str:
    """One day's hours: "On Friday we're open from 8 AM to 3 PM.", "We're closed on Saturdays."."""
    value = hours.get(day)
    name = label or f"on {DAY_NAMES[day]}"
    if value is None:
        return f"We're closed {name}." if label else f"We're closed on {DAY_NAMES[day]}s."
    return f"{name[0].upper()}{name[1:]} we're open from {spoken_time(value[0])} to {spoken_time(value[1])}."
