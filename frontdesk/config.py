"""frontdesk.toml: load, validate, and report bad values in one line naming the key."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEMO_CONFIG = Path(__file__).with_name("demo_clinic.toml")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class ConfigError(ValueError):
    """A bad config value; str() is one line naming the key and what was expected."""


@dataclass
class Service:
    name: str
    duration_min: int
    aliases: list[str] = field(default_factory=list)


@dataclass
class Clinic:
    name: str
    timezone: str
    address: str
    phone: str
    disclosure: str
    services: list[Service]
    hours: dict[str, tuple[str, str] | None]


@dataclass
class SipConfig:
    listen: str
    port: int
    transports: list[str]
    public_address: str
    allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    rtp_port_min: int
    rtp_port_max: int


@dataclass
class ModelsConfig:
    asr: str
    tts: str
    llm: str
    threads: int


@dataclass
class DialogConfig:
    silence_timeout_s: float
    end_silence_ms: int


@dataclass
class Config:
    clinic: Clinic
    sip: SipConfig
    models: ModelsConfig
    dialog: DialogConfig
    data_dir: Path
    source: Path


def _get(table: dict, key: str, path: str, kind, default=None, required: bool = False):
    if key not in table:
        if required:
            raise ConfigError(f"{path}.{key}: missing (expected {_kind_name(kind)})")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}.{key}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind) -> str:
    return {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table"}.get(kind, str(kind))


def _range(value: int | float, lo, hi, key: str):
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: expected a value between {lo} and {hi}, got {value!r}")
    return value


def load_config(path: str | Path | None = None) -> Config:
    src = Path(path) if path else DEMO_CONFIG
    try:
        data = tomllib.loads(src.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{src}: config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{src}: not valid TOML ({exc})") from None

    c = _get(data, "clinic", "", dict, required=True) if "clinic" in data else None
    if c is None:
        raise ConfigError("clinic: missing table [clinic]")
    name = _get(c, "name", "clinic", str, required=True).strip()
    if not name:
        raise ConfigError("clinic.name: expected a non-empty string")
    tz = _get(c, "timezone", "clinic", str, "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"clinic.timezone: expected an IANA time zone such as 'America/New_York', got {tz!r}") from None
    services = []
    for i, s in enumerate(_get(c, "services", "clinic", list, [])):
        key = f"clinic.services[{i}]"
        if not isinstance(s, dict):
            raise ConfigError(f"{key}: expected a table with name and duration_min")
        sname = _get(s, "name", key, str, required=True)
        dur = _range(_get(s, "duration_min", key, int, required=True), 5, 480, f"{key}.duration_min")
        aliases = _get(s, "aliases", key, list, [])
        if not all(isinstance(a, str) for a in aliases):
            raise ConfigError(f"{key}.aliases: expected a list of strings")
        services.append(Service(sname, dur, aliases))
    if not services:
        raise ConfigError("clinic.services: expected at least one service")
    hours_table = _get(c, "hours", "clinic", dict, {})
    hours: dict[str, tuple[str, str] | None] = {}
    for day, value in hours_table.items():
        if day not in DAYS:
            raise ConfigError(f"clinic.hours.{day}: unknown day (expected one of {', '.join(DAYS)})")
        if not isinstance(value, str):
            raise ConfigError(f"clinic.hours.{day}: expected 'HH:MM-HH:MM' or 'closed', got {value!r}")
        if value.strip().lower() == "closed":
            hours[day] = None
            continue
        m = _HOURS_RE.match(value.strip())
        if not m or value.strip()[:5] >= value.strip()[6:]:
            raise ConfigError(f"clinic.hours.{day}: expected 'HH:MM-HH:MM' (opening before closing) or 'closed', got {value!r}")
        hours[day] = (value.strip()[:5], value.strip()[6:])
    for day in DAYS:
        hours.setdefault(day, None)
    clinic = Clinic(
        name=name, timezone=tz, address=_get(c, "address", "clinic", str, ""),
        phone=_get(c, "phone", "clinic", str, ""),
        disclosure=_get(c, "disclosure", "clinic", str,
                        "I'm the clinic's automated assistant, so you're speaking with a computer."),
        services=services, hours=hours,
    )

    s = _get(data, "sip", "", dict, {})
    listen = _get(s, "listen", "sip", str, "127.0.0.1")
    try:
        ipaddress.ip_address(listen)
    except ValueError:
        raise ConfigError(f"sip.listen: expected an IP address such as 127.0.0.1 or 0.0.0.0, got {listen!r}") from None
    port = _range(_get(s, "port", "sip", int, 5060), 0, 65535, "sip.port")
    transport_value = _get(s, "transport", "sip", str, "udp")
    transports = [t.strip().upper() for t in transport_value.split(",") if t.strip()]
    if not transports or any(t not in ("UDP", "TCP") for t in transports):
        raise ConfigError(f"sip.transport: expected 'udp', 'tcp' or 'udp,tcp', got {transport_value!r}")
    public = _get(s, "public_address", "sip", str, "")
    if public:
        try:
            ipaddress.ip_address(public)
        except ValueError:
            raise ConfigError(f"sip.public_address: expected an IP address, got {public!r}") from None
    elif ipaddress.ip_address(listen).is_unspecified:
        raise ConfigError(f"sip.public_address: required when sip.listen is {listen} (the address callers reach)")
    nets = []
    for i, n in enumerate(_get(s, "allowed_networks", "sip", list, ["127.0.0.0/8", "::1/128"])):
        try:
            nets.append(ipaddress.ip_network(str(n), strict=False))
        except ValueError:
            raise ConfigError(f"sip.allowed_networks[{i}]: expected a network such as 10.0.0.0/8, got {n!r}") from None
    rmin = _range(_get(s, "rtp_port_min", "sip", int, 20000), 1024, 65534, "sip.rtp_port_min")
    rmax = _range(_get(s, "rtp_port_max", "sip", int, 20999), 1025, 65535, "sip.rtp_port_max")
    if rmax <= rmin:
        raise ConfigError(f"sip.rtp_port_max: expected more than sip.rtp_port_min ({rmin}), got {rmax}")
    sip = SipConfig(listen, port, transports, public or listen, nets, rmin, rmax)

    m = _get(data, "models", "", dict, {})
    models = ModelsConfig(
        asr=_get(m, "asr", "models", str, ""), tts=_get(m, "tts", "models", str, ""),
        llm=_get(m, "llm", "models", str, ""),
        threads=_range(_get(m, "threads", "models", int, 2), 1, 64, "models.threads"),
    )
    for role in ("asr", "tts", "llm"):
        p = getattr(models, role)
        if p and not Path(p).expanduser().exists():
            raise ConfigError(f"models.{role}: expected an existing path, {p!r} does not exist")

    d = _get(data, "dialog", "", dict, {})
    dialog = DialogConfig(
        silence_timeout_s=_range(_get(d, "silence_timeout_s", "dialog", float, 15.0), 3.0, 600.0, "dialog.silence_timeout_s"),
        end_silence_ms=_range(_get(d, "end_silence_ms", "dialog", int, 700), 200, 5000, "dialog.end_silence_ms"),
    )
    st = _get(data, "storage", "", dict, {})
    data_dir = Path(_get(st, "data_dir", "storage", str, "var")).expanduser()
    return Config(clinic, sip, models, dialog, data_dir, src)
