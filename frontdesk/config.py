"""frontdesk.toml: load, validate, and report bad values in one line naming the key.

The whole file format in one module, on purpose: each section's dataclass and its parser
(`_clinic_section`, `_sip_section`, ...) sit in the same place a reader looks for a setting, and
`loads_config` only runs the section parsers in order."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from media.sip.message import SipParseError, parse_uri

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
class Provider:
    name: str
    services: list[str]
    hours: dict[str, tuple[str, str] | None]
    calendar: str = ""


@dataclass
class ClosureDay:
    day: str
    reason: str = ""


@dataclass
class Clinic:
    name: str
    timezone: str
    address: str
    phone: str
    disclosure: str
    services: list[Service]
    hours: dict[str, tuple[str, str] | None]
    providers: list[Provider] = field(default_factory=list)
    closures: list[ClosureDay] = field(default_factory=list)
    parking: str = ""
    insurance: list[str] = field(default_factory=list)
    emergency_number: str = "911"
    faq: list = field(default_factory=list)  # dialog.faq.FaqEntry


@dataclass
class BookingConfig:
    database_url: str
    required_fields: list[str]
    hold_ttl_s: float
    slot_step_min: int
    lead_min: int
    horizon_days: int
    confirm_by: list[str]
    spell_names: bool = True  # new callers spell their name, read back; off: the name as heard


@dataclass
class HandoffConfig:
    front_desk_uri: str


@dataclass
class ConfirmationsConfig:
    smtp_host: str
    smtp_port: int
    sender: str
    smtp_username: str
    smtp_password: str
    smtp_starttls: bool


@dataclass
class SmsConfig:
    gateway: str = "file"  # "file": <data_dir>/sms.jsonl, nothing sent; "twilio": Programmable Messaging
    sender: str = ""  # twilio: the From number (E.164) or a Messaging Service SID (MG...)
    account_sid: str = ""  # twilio: from $FRONTDESK_TWILIO_ACCOUNT_SID
    auth_token: str = field(default="", repr=False)  # twilio: from $FRONTDESK_TWILIO_AUTH_TOKEN
    api_url: str = "https://api.twilio.com"


@dataclass
class RemindersConfig:
    before_hours: list[float] = field(default_factory=list)  # e.g. [48, 2]; empty: no reminders
    channels: list[str] = field(default_factory=lambda: ["sms", "email"])
    quiet_hours: tuple[str, str] = ("21:00", "08:00")  # clinic time: nothing goes out from the first to the second
    confirm_url: str = ""  # the dashboard's public address: email reminders carry a confirm link to it
    calls: bool = False  # ask each booking caller for consent, then call those who said yes
    call_attempts: int = 2  # unanswered or busy: tried again, at most this many calls per reminder
    call_retry_minutes: int = 60  # between two attempts


@dataclass
class WaitlistConfig:
    enabled: bool = False  # a caller who finds no time that suits can join the waitlist
    hold_minutes: int = 30  # how long a freed slot is held for the waitlisted caller it is texted to
    days: int = 14  # how far ahead a waitlist entry looks when the caller names no days


@dataclass
class CalDavConfig:
    url: str
    username: str
    password: str
    sync_interval_s: float


@dataclass
class RegisterConfig:
    registrar: str  # sip:10.0.0.5:5060, sip:pbx.example.com (A/AAAA, no SRV), ;transport=tcp
    username: str
    password: str
    aor: str
    expires: int


@dataclass
class OutboundConfig:
    """[sip.outbound]: where the calls frontdesk places go (reminder calls): the trunk or PBX."""
    proxy: str  # sip:pbx.example.com:5060 (an IP address or a name, A/AAAA); ;transport=tcp for TCP
    username: str = ""  # Digest credentials, when the trunk or PBX challenges the INVITE
    password: str = ""
    caller_id: str = ""  # the user part of From: the clinic's number as the trunk expects it (+15550100100)
    ring_timeout_s: float = 30.0  # ringing this long: cancelled, and counted as no answer


@dataclass
class SipConfig:
    listen: str
    port: int
    transports: list[str]
    public_address: str
    allowed_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    rtp_port_min: int
    rtp_port_max: int
    rtp_timeout_s: float = 30.0  # no RTP this long (not on hold) ends the call
    session_expires_min_s: int = 90  # Min-SE: the shortest session-timer interval accepted
    register: RegisterConfig | None = None  # keep a registration at a PBX or registrar
    tls_port: int = 5061
    answer_delay_ms: int = 0  # ring this long before answering
    srtp: str = "optional"  # SDES-keyed SRTP: optional (when offered), required, off
    rate_limit: float = 20.0  # new requests (INVITE, OPTIONS, REGISTER...) per second per source; 0: off
    flood_action: str = "reject"  # over the limit: "reject" (503 + Retry-After) or "drop" (silence)
    tls_certificate: str = ""
    tls_private_key: str = ""
    max_calls: int = 0  # calls at once; beyond it new INVITEs (and OPTIONS probes) get 503; 0: no limit
    overload_backlog_ms: int = 300  # a new INVITE that waited longer in the UDP receive queue gets 503; 0: off
    outbound: OutboundConfig | None = None  # where placed calls go; None: frontdesk places none


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
    barge_in_ms: int = 600  # caller speech that ends the agent's turn (0: no barge-in)
    barge_in_pause_ms: int = 60  # caller speech that pauses the agent's audio
    backchannels_interrupt: bool = False  # "uh-huh", "okay" over the agent stop it too
    filler_after_s: float = 2.0  # say "One moment, please." when a reply takes longer
    turn_timeout_s: float = 20.0  # no reply by then (a model hung or crashed): apologise, callback, hang up


@dataclass
class PrivacyConfig:
    retention_days: int = 90  # transcripts and recordings older than this are purged
    redact_transcripts: bool = False  # store transcripts with numbers, emails and birth dates masked
    encrypt: bool = False  # encrypt call content and recordings at rest
    encryption_key_file: str = ""  # else $FRONTDESK_DATA_KEY
    log_transcripts: bool = False  # caller words in the server log (off: no PHI in logs)
    log_format: str = "text"  # or "json" (one JSON object per line)


@dataclass
class RecordingConfig:
    enabled: bool = False
    consent_prompt: str = "This call may be recorded for quality and training purposes."


@dataclass
class DashboardConfig:
    enabled: bool = True
    listen: str = "127.0.0.1"
    port: int = 8080
    metrics_networks: list = field(default_factory=lambda: [ipaddress.ip_network("127.0.0.0/8"),
                                                            ipaddress.ip_network("::1/128")])
    secure_cookies: bool = False  # set when the dashboard is served over HTTPS (a reverse proxy)
    test_call: bool = True  # the "Test call" page: staff talk to the agent from the browser (WebRTC)
    test_call_connect_s: float = 20.0  # a test call whose connection never comes up ends after this
    lockout_after: int = 5  # failed logins for one user name from one address before that address waits
    lockout_minutes: int = 15
    trusted_proxies: list = field(default_factory=list)  # addresses whose X-Forwarded-For is believed
    request_timeout_s: float = 10.0  # a request (headers and body) must arrive within this
    connections_per_source: int = 32  # open connections from one address at once


@dataclass
class TwilioConfig:
    """Twilio Programmable Voice: a webhook answers with <Connect><Stream> to this server."""
    enabled: bool = False
    public_url: str = ""  # the https:// address Twilio reaches this server's web port at
    auth_token: str = ""  # signs Twilio's requests; $FRONTDESK_TWILIO_AUTH_TOKEN overrides
    dial: str = ""  # handoff: a number or sip: URI for <Dial>; empty: handoff.front_desk_uri
    max_streams: int = 20  # Media Stream sockets open at once (every stream carries the same signature)

    @property
    def stream_url(self) -> str:
        base = self.public_url.rstrip("/")
        return ("wss://" + base[len("https://"):] if base.startswith("https://")
                else "ws://" + base[len("http://"):]) + "/twilio/stream"


@dataclass
class Config:
    clinic: Clinic
    sip: SipConfig
    models: ModelsConfig
    dialog: DialogConfig
    data_dir: Path
    source: Path
    booking: BookingConfig
    handoff: HandoffConfig
    confirmations: ConfirmationsConfig
    caldav: CalDavConfig
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    call_log_file: bool = False  # also append records to <data_dir>/calls.jsonl (plain text)
    twilio: TwilioConfig = field(default_factory=TwilioConfig)
    node_id: str = ""  # [cluster] node_id / $FRONTDESK_NODE_ID; default: the host name
    data_dir_shared: bool = False  # storage.data_dir_shared: allow a data folder others can read
    reminders: RemindersConfig = field(default_factory=RemindersConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    survey: bool = False  # [survey] enabled: one question (1 to 5) before goodbye
    waitlist: WaitlistConfig = field(default_factory=WaitlistConfig)

    @property
    def database_url(self) -> str:
        return self.booking.database_url or f"sqlite:///{(self.data_dir / 'frontdesk.db').resolve()}"


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


def _register_config(r: dict | None) -> RegisterConfig | None:
    if r is None:
        return None
    registrar = _get(r, "registrar", "sip.register", str, required=True)
    try:
        uri = parse_uri(registrar)
        if uri.scheme != "sip" or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", uri.host):
            raise ValueError(uri.host)
        if (uri.params.get("transport") or "udp").lower() not in ("udp", "tcp"):
            raise ValueError("transport")
    except (SipParseError, ValueError):
        raise ConfigError(f"sip.register.registrar: expected a SIP URI such as sip:10.0.0.5:5060, "
                          f"sip:pbx.example.com or sip:pbx.example.com;transport=tcp, got {registrar!r}") from None
    username = _get(r, "username", "sip.register", str, "")
    aor = _get(r, "aor", "sip.register", str, f"sip:{username or 'frontdesk'}@{uri.host}")
    return RegisterConfig(registrar, username, _get(r, "password", "sip.register", str, ""), aor,
                          _range(_get(r, "expires", "sip.register", int, 3600), 60, 86400, "sip.register.expires"))


def _kind_name(kind) -> str:
    return {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table",
            bool: "true or false"}.get(kind, str(kind))


def _range(value: int | float, lo, hi, key: str):
    if not lo <= value <= hi:
        raise ConfigError(f"{key}: expected a value between {lo} and {hi}, got {value!r}")
    return value


def default_config_path() -> Path:
    """./frontdesk.toml when there is one, else the demo clinic shipped with frontdesk."""
    local = Path("frontdesk.toml")
    return local if local.is_file() else DEMO_CONFIG


def _proxies(items: list) -> list[str]:
    """dashboard.trusted_proxies: the reverse proxies whose X-Forwarded-For is believed (none by
    default: a forged header from anywhere, 127.0.0.1 included, is ignored)."""
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_address(str(item))))
        except ValueError:
            raise ConfigError(f"dashboard.trusted_proxies: expected IP addresses, got {item!r}") from None
    return out


def _faq(items: list) -> list:
    """[[clinic.faq]]: id, questions (how callers ask it), answer (said word for word), keywords."""
    from dialog.faq import FaqEntry, valid_id

    out, seen = [], set()
    for i, item in enumerate(items):
        key = f"clinic.faq[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{key}: expected a table with id, questions and answer")
        fid = _get(item, "id", key, str, required=True)
        if not valid_id(fid):
            raise ConfigError(f"{key}.id: expected a short lower-case id (letters, digits, _), not one of hours, address, "
                              f"parking, insurance; got {fid!r}")
        if fid in seen:
            raise ConfigError(f"{key}.id: {fid!r} is used twice")
        seen.add(fid)
        questions = _get(item, "questions", key, list, [])
        keywords = _get(item, "keywords", key, list, [])
        if not questions or not all(isinstance(q, str) and q.strip() for q in questions):
            raise ConfigError(f"{key}.questions: expected a list of the ways callers ask it")
        if not all(isinstance(k, str) for k in keywords):
            raise ConfigError(f"{key}.keywords: expected a list of strings")
        answer = _get(item, "answer", key, str, required=True).strip()
        if not answer:
            raise ConfigError(f"{key}.answer: expected the answer to say")
        out.append(FaqEntry(fid, questions, answer, {k.lower() for k in keywords}))
    return out


def load_config(path: str | Path | None = None) -> Config:
    src = Path(path) if path else default_config_path()
    try:
        text = src.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{src}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{src}: cannot read ({exc})") from None
    return loads_config(text, src)


def loads_config(text: str, src: Path = Path("<config>")) -> Config:
    """The config from TOML text; any problem is one ConfigError naming the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{src}: not valid TOML ({exc})") from None

    clinic = _clinic_section(data)
    sip = _sip_section(data)
    models = _models_section(data)
    dialog = _dialog_section(data)
    st = _get(data, "storage", "", dict, {})
    data_dir = Path(_get(st, "data_dir", "storage", str, "var")).expanduser()
    booking = _booking_section(data)
    h = _get(data, "handoff", "", dict, {})
    front = _get(h, "front_desk_uri", "handoff", str, "")
    if front and not re.match(r"^sips?:\S+@?\S*$|^tel:\+?[\d\-]+$", front):
        raise ConfigError(f"handoff.front_desk_uri: expected a sip:, sips: or tel: URI, got {front!r}")
    confirmations = _confirmations_section(data, booking.confirm_by)
    caldav = _caldav_section(data)
    privacy = _privacy_section(data)
    recording = _recording_section(data)
    dashboard = _dashboard_section(data)
    twilio = _twilio_section(data, dashboard)
    node_id = _node_id(data)
    reminders = _reminders_section(data, confirmations, sip)
    return Config(clinic, sip, models, dialog, data_dir, src, booking, HandoffConfig(front), confirmations, caldav,
                  privacy, recording, dashboard, _get(st, "call_log_file", "storage", bool, False), twilio, node_id,
                  _get(st, "data_dir_shared", "storage", bool, False), reminders, _sms_section(data),
                  _get(_get(data, "survey", "", dict, {}), "enabled", "survey", bool, False), _waitlist_section(data))


def _clinic_section(data: dict) -> Clinic:
    """[clinic]: the name, hours, services, providers, closures, insurance and FAQ."""
    c = _get(data, "clinic", "", dict, required=True) if "clinic" in data else None
    if c is None:
        raise ConfigError("clinic: missing table [clinic]")
    name = _get(c, "name", "clinic", str, required=True).strip()
    if not name:
        raise ConfigError("clinic.name: expected a non-empty string")
    tz = _get(c, "timezone", "clinic", str, "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
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
    hours = _hours(_get(c, "hours", "clinic", dict, {}), "clinic.hours")
    service_names = {s.name for s in services}
    providers = []
    for i, p in enumerate(_get(c, "providers", "clinic", list, [])):
        key = f"clinic.providers[{i}]"
        if not isinstance(p, dict):
            raise ConfigError(f"{key}: expected a table with name and services")
        pname = _get(p, "name", key, str, required=True)
        psvcs = _get(p, "services", key, list, [s.name for s in services])
        for sname in psvcs:
            if sname not in service_names:
                raise ConfigError(f"{key}.services: {sname!r} is not one of clinic.services ({', '.join(sorted(service_names))})")
        phours = _hours(_get(p, "hours", key, dict), f"{key}.hours") if "hours" in p else dict(hours)
        providers.append(Provider(pname, list(psvcs), phours, _get(p, "calendar", key, str, "")))
    if not providers:
        providers = [Provider("our team", [s.name for s in services], dict(hours))]
    closures = []
    for i, cl in enumerate(_get(c, "closures", "clinic", list, [])):
        key = f"clinic.closures[{i}]"
        if not isinstance(cl, dict) or not re.match(r"^\d{4}-\d{2}-\d{2}$", str(cl.get("day", ""))):
            raise ConfigError(f"{key}: expected {{ day = \"YYYY-MM-DD\", reason = \"...\" }}")
        closures.append(ClosureDay(str(cl["day"]), str(cl.get("reason", ""))))
    insurance = _get(c, "insurance", "clinic", list, [])
    if not all(isinstance(x, str) for x in insurance):
        raise ConfigError("clinic.insurance: expected a list of strings")
    faq = _faq(_get(c, "faq", "clinic", list, []))
    clinic = Clinic(
        name=name, timezone=tz, address=_get(c, "address", "clinic", str, ""),
        phone=_get(c, "phone", "clinic", str, ""),
        disclosure=_get(c, "disclosure", "clinic", str,
                        "I'm the clinic's automated assistant, so you're speaking with a computer."),
        services=services, hours=hours, providers=providers, closures=closures,
        parking=_get(c, "parking", "clinic", str, ""), insurance=list(insurance),
        emergency_number=_get(c, "emergency_number", "clinic", str, "911"), faq=faq,
    )
    return clinic


def _sip_section(data: dict) -> SipConfig:
    """[sip]: where to listen, transports and TLS, RTP ports, SRTP, limits, registration."""
    s = _get(data, "sip", "", dict, {})
    listen = _get(s, "listen", "sip", str, "127.0.0.1")
    try:
        ipaddress.ip_address(listen)
    except ValueError:
        raise ConfigError(f"sip.listen: expected an IP address such as 127.0.0.1 or 0.0.0.0, got {listen!r}") from None
    port = _range(_get(s, "port", "sip", int, 5060), 0, 65535, "sip.port")
    transport_value = _get(s, "transport", "sip", str, "udp")
    transports = [t.strip().upper() for t in transport_value.split(",") if t.strip()]
    if not transports or any(t not in ("UDP", "TCP", "TLS") for t in transports):
        raise ConfigError(f"sip.transport: expected a list of udp, tcp and tls such as 'udp,tcp', got {transport_value!r}")
    tls_port = _range(_get(s, "tls_port", "sip", int, 5061), 0, 65535, "sip.tls_port")
    tls_cert = _get(s, "tls_certificate", "sip", str, "")
    tls_key = _get(s, "tls_private_key", "sip", str, "")
    if "TLS" in transports:
        for key, value in (("tls_certificate", tls_cert), ("tls_private_key", tls_key)):
            if not value:
                raise ConfigError(f"sip.{key}: required for transport tls (a PEM file)")
            if not Path(value).expanduser().is_file():
                raise ConfigError(f"sip.{key}: expected an existing PEM file, {value!r} does not exist")
    # containers and nodes of a cluster share one file: the environment can set what differs per node
    public = os.environ.get("FRONTDESK_SIP_PUBLIC_ADDRESS") or _get(s, "public_address", "sip", str, "")
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
    rtp_timeout = _range(_get(s, "rtp_timeout_s", "sip", float, 30.0), 2.0, 3600.0, "sip.rtp_timeout_s")
    min_se = _range(_get(s, "session_expires_min_s", "sip", int, 90), 1, 86400, "sip.session_expires_min_s")
    srtp = _get(s, "srtp", "sip", str, "optional")
    if srtp not in ("optional", "required", "off"):
        raise ConfigError(f"sip.srtp: expected optional, required or off, got {srtp!r}")
    flood_action = _get(s, "flood_action", "sip", str, "reject")
    if flood_action not in ("reject", "drop"):
        raise ConfigError(f"sip.flood_action: expected reject or drop, got {flood_action!r}")
    rate_limit = _range(_get(s, "rate_limit", "sip", float, 20.0), 0.0, 100000.0, "sip.rate_limit")
    sip = SipConfig(listen, port, transports, public or listen, nets, rmin, rmax, rtp_timeout_s=rtp_timeout, srtp=srtp,
                    rate_limit=rate_limit, flood_action=flood_action,
                    session_expires_min_s=min_se, register=_register_config(_get(s, "register", "sip", dict, None)),
                    tls_port=tls_port, tls_certificate=tls_cert, tls_private_key=tls_key,
                    answer_delay_ms=_range(_get(s, "answer_delay_ms", "sip", int, 0), 0, 30000, "sip.answer_delay_ms"),
                    max_calls=_range(_get(s, "max_calls", "sip", int, 0), 0, 100000, "sip.max_calls"),
                    overload_backlog_ms=_range(_get(s, "overload_backlog_ms", "sip", int, 300), 0, 60000,
                                               "sip.overload_backlog_ms"),
                    outbound=_outbound_config(_get(s, "outbound", "sip", dict, None)))
    return sip


def _outbound_config(o: dict | None) -> OutboundConfig | None:
    """[sip.outbound]; the password may come from $FRONTDESK_SIP_OUTBOUND_PASSWORD instead of the file."""
    if o is None:
        return None
    proxy = _get(o, "proxy", "sip.outbound", str, required=True)
    try:
        uri = parse_uri(proxy)
        if uri.scheme != "sip" or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", uri.host):
            raise ValueError(uri.host)
        if (uri.params.get("transport") or "udp").lower() not in ("udp", "tcp"):
            raise ValueError("transport")
    except (SipParseError, ValueError):
        raise ConfigError(f"sip.outbound.proxy: expected a SIP URI such as sip:10.0.0.5:5060 or "
                          f"sip:trunk.example.com;transport=tcp, got {proxy!r}") from None
    caller_id = _get(o, "caller_id", "sip.outbound", str, "")
    if caller_id and not re.fullmatch(r"\+?[0-9A-Za-z._\-]+", caller_id):
        raise ConfigError(f"sip.outbound.caller_id: expected a number or SIP user such as +15550100100, got {caller_id!r}")
    return OutboundConfig(proxy, _get(o, "username", "sip.outbound", str, ""),
                          os.environ.get("FRONTDESK_SIP_OUTBOUND_PASSWORD") or _get(o, "password", "sip.outbound", str, ""),
                          caller_id, _range(_get(o, "ring_timeout_s", "sip.outbound", float, 30.0), 5.0, 120.0,
                                            "sip.outbound.ring_timeout_s"))


def _models_section(data: dict) -> ModelsConfig:
    """[models]: model paths (empty: the installed ones) and threads."""
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
    return models


def _dialog_section(data: dict) -> DialogConfig:
    """[dialog]: turn-taking timings."""
    d = _get(data, "dialog", "", dict, {})
    dialog = DialogConfig(
        silence_timeout_s=_range(_get(d, "silence_timeout_s", "dialog", float, 15.0), 3.0, 600.0, "dialog.silence_timeout_s"),
        end_silence_ms=_range(_get(d, "end_silence_ms", "dialog", int, 550), 200, 5000, "dialog.end_silence_ms"),
        barge_in_ms=_range(_get(d, "barge_in_ms", "dialog", int, 600), 0, 5000, "dialog.barge_in_ms"),
        barge_in_pause_ms=_range(_get(d, "barge_in_pause_ms", "dialog", int, 60), 20, 1000, "dialog.barge_in_pause_ms"),
        backchannels_interrupt=_get(d, "backchannels_interrupt", "dialog", bool, False),
        filler_after_s=_range(_get(d, "filler_after_s", "dialog", float, 2.0), 0.5, 30.0, "dialog.filler_after_s"),
        turn_timeout_s=_range(_get(d, "turn_timeout_s", "dialog", float, 20.0), 2.0, 120.0, "dialog.turn_timeout_s"),
    )
    return dialog


def _booking_section(data: dict) -> BookingConfig:
    """[booking]: required fields, confirmations, holds, the database."""
    b = _get(data, "booking", "", dict, {})
    required = _get(b, "required_fields", "booking", list, ["name", "phone"])
    allowed_fields = ("name", "phone", "email", "reason", "new_patient", "insurance", "dob")
    for f in required:
        if f not in allowed_fields:
            raise ConfigError(f"booking.required_fields: {f!r} is not one of {', '.join(allowed_fields)}")
    confirm_by = _get(b, "confirm_by", "booking", list, ["sms"])
    for ch in confirm_by:
        if ch not in ("sms", "email"):
            raise ConfigError(f"booking.confirm_by: expected 'sms' and/or 'email', got {ch!r}")
    db_url = os.environ.get("FRONTDESK_DATABASE_URL") or _get(b, "database_url", "booking", str, "")
    if db_url and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", db_url):
        raise ConfigError(f"booking.database_url: expected sqlite:///PATH or postgresql://..., got {db_url!r}")
    booking = BookingConfig(
        database_url=db_url, required_fields=list(required),
        hold_ttl_s=_range(_get(b, "hold_ttl_s", "booking", float, 300.0), 30.0, 3600.0, "booking.hold_ttl_s"),
        slot_step_min=_range(_get(b, "slot_step_min", "booking", int, 15), 5, 120, "booking.slot_step_min"),
        lead_min=_range(_get(b, "lead_min", "booking", int, 60), 0, 10080, "booking.lead_min"),
        horizon_days=_range(_get(b, "horizon_days", "booking", int, 21), 1, 365, "booking.horizon_days"),
        confirm_by=list(confirm_by),
        spell_names=_get(b, "spell_names", "booking", bool, True),
    )
    return booking


def _confirmations_section(data: dict, confirm_by: list) -> ConfirmationsConfig:
    """[confirmations]: SMTP for emailed confirmations."""
    cf = _get(data, "confirmations", "", dict, {})
    confirmations = ConfirmationsConfig(
        smtp_host=_get(cf, "smtp_host", "confirmations", str, ""),
        smtp_port=_range(_get(cf, "smtp_port", "confirmations", int, 25), 1, 65535, "confirmations.smtp_port"),
        sender=_get(cf, "sender", "confirmations", str, ""),
        smtp_username=_get(cf, "smtp_username", "confirmations", str, ""),
        smtp_password=_get(cf, "smtp_password", "confirmations", str, ""),
        smtp_starttls=_get(cf, "smtp_starttls", "confirmations", bool, False),
    )
    if "email" in confirm_by and not confirmations.smtp_host:
        raise ConfigError("confirmations.smtp_host: required when booking.confirm_by includes 'email'")
    return confirmations


def _sms_section(data: dict) -> SmsConfig:
    """[sms]: where texts go. The Twilio credentials come from the environment, never the file."""
    m = _get(data, "sms", "", dict, {})
    gateway = _get(m, "gateway", "sms", str, "file")
    if gateway not in ("file", "twilio"):
        raise ConfigError(f"sms.gateway: expected 'file' or 'twilio', got {gateway!r}")
    sender = _get(m, "from", "sms", str, "")
    api_url = _get(m, "api_url", "sms", str, SmsConfig.api_url).rstrip("/")
    if not re.match(r"^https?://[^/\s]+$", api_url):
        raise ConfigError(f"sms.api_url: expected a base URL such as 'https://api.twilio.com', got {api_url!r}")
    sms = SmsConfig(gateway, sender, os.environ.get("FRONTDESK_TWILIO_ACCOUNT_SID", ""),
                    os.environ.get("FRONTDESK_TWILIO_AUTH_TOKEN", ""), api_url)
    if gateway == "twilio":
        if not re.fullmatch(r"\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32}", sender):
            raise ConfigError(f"sms.from: expected the Twilio number in E.164 (+15550100100) or a Messaging Service "
                              f"SID (MG...), got {sender!r}")
        if not sms.account_sid.startswith("AC") or not sms.auth_token:
            raise ConfigError("sms.gateway: 'twilio' needs $FRONTDESK_TWILIO_ACCOUNT_SID (AC...) and "
                              "$FRONTDESK_TWILIO_AUTH_TOKEN in the environment")
    return sms


def _reminders_section(data: dict, confirmations: ConfirmationsConfig, sip: SipConfig) -> RemindersConfig:
    """[reminders]: when before each appointment a reminder goes out, how, and the quiet hours."""
    r = _get(data, "reminders", "", dict, {})
    hours = _get(r, "before_hours", "reminders", list, [])
    for h in hours:
        if isinstance(h, bool) or not isinstance(h, (int, float)) or not 0.25 <= h <= 720:
            raise ConfigError(f"reminders.before_hours: expected hours between 0.25 and 720 (e.g. [48, 2]), got {h!r}")
    channels = _get(r, "channels", "reminders", list, ["sms", "email"])
    for c in channels:
        if c not in ("sms", "email"):
            raise ConfigError(f"reminders.channels: expected 'sms' and/or 'email', got {c!r}")
    quiet = _get(r, "quiet_hours", "reminders", str, "21:00-08:00")
    m = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*", quiet)
    if not m:
        raise ConfigError(f"reminders.quiet_hours: expected 'HH:MM-HH:MM' in the clinic's time zone, got {quiet!r}")
    if hours and "email" in channels and not confirmations.smtp_host:
        raise ConfigError("confirmations.smtp_host: required when reminders.channels includes 'email'")
    confirm_url = _get(r, "confirm_url", "reminders", str, "").rstrip("/")
    if confirm_url and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", confirm_url):
        raise ConfigError(f"reminders.confirm_url: expected the http(s):// address patients reach the dashboard at, "
                          f"got {confirm_url!r}")
    calls = _get(r, "calls", "reminders", bool, False)
    if calls and sip.outbound is None:
        raise ConfigError("reminders.calls: needs [sip.outbound] (the trunk or PBX the calls go through)")
    if calls and not hours:
        raise ConfigError("reminders.calls: needs reminders.before_hours (when before the appointment to call)")
    return RemindersConfig([float(h) for h in hours], list(channels),
                           (f"{int(m.group(1)):02d}:{m.group(2)}", f"{int(m.group(3)):02d}:{m.group(4)}"), confirm_url,
                           calls, _range(_get(r, "call_attempts", "reminders", int, 2), 1, 5, "reminders.call_attempts"),
                           _range(_get(r, "call_retry_minutes", "reminders", int, 60), 5, 24 * 60,
                                  "reminders.call_retry_minutes"))


def _waitlist_section(data: dict) -> WaitlistConfig:
    """[waitlist]: callers who find no suitable time wait for a cancellation, offered by text."""
    w = _get(data, "waitlist", "", dict, {})
    return WaitlistConfig(_get(w, "enabled", "waitlist", bool, False),
                          _range(_get(w, "hold_minutes", "waitlist", int, 30), 5, 24 * 60, "waitlist.hold_minutes"),
                          _range(_get(w, "days", "waitlist", int, 14), 1, 90, "waitlist.days"))


def _caldav_section(data: dict) -> CalDavConfig:
    """[caldav]: the staff calendar server."""
    cd = _get(data, "caldav", "", dict, {})
    caldav_url = _get(cd, "url", "caldav", str, "")
    if caldav_url and not re.match(r"^https?://", caldav_url):
        raise ConfigError(f"caldav.url: expected an http:// or https:// URL, got {caldav_url!r}")
    caldav = CalDavConfig(caldav_url, _get(cd, "username", "caldav", str, ""), _get(cd, "password", "caldav", str, ""),
                          _range(_get(cd, "sync_interval_s", "caldav", float, 60.0), 5.0, 86400.0, "caldav.sync_interval_s"))
    return caldav


def _privacy_section(data: dict) -> PrivacyConfig:
    """[privacy]: retention, redaction, encryption, logs."""
    pv = _get(data, "privacy", "", dict, {})
    privacy = PrivacyConfig(
        retention_days=_range(_get(pv, "retention_days", "privacy", int, 90), 1, 3650, "privacy.retention_days"),
        redact_transcripts=_get(pv, "redact_transcripts", "privacy", bool, False),
        encrypt=_get(pv, "encrypt", "privacy", bool, False),
        encryption_key_file=_get(pv, "encryption_key_file", "privacy", str, ""),
        log_transcripts=_get(pv, "log_transcripts", "privacy", bool, False),
        log_format=_get(pv, "log_format", "privacy", str, "text"))
    if privacy.log_format not in ("text", "json"):
        raise ConfigError(f"privacy.log_format: expected text or json, got {privacy.log_format!r}")
    return privacy


def _recording_section(data: dict) -> RecordingConfig:
    """[recording]: off by default; a consent prompt when on."""
    rc = _get(data, "recording", "", dict, {})
    recording = RecordingConfig(_get(rc, "enabled", "recording", bool, False),
                                _get(rc, "consent_prompt", "recording", str, RecordingConfig.consent_prompt))
    if recording.enabled and not recording.consent_prompt.strip():
        raise ConfigError("recording.consent_prompt: required when recording is enabled")
    return recording


def _dashboard_section(data: dict) -> DashboardConfig:
    """[dashboard]: the staff web app and metrics."""
    dc = _get(data, "dashboard", "", dict, {})
    dash_listen = _get(dc, "listen", "dashboard", str, "127.0.0.1")
    try:
        ipaddress.ip_address(dash_listen)
    except ValueError:
        raise ConfigError(f"dashboard.listen: expected an IP address, got {dash_listen!r}") from None
    metrics_nets = []
    for i, n in enumerate(_get(dc, "metrics_networks", "dashboard", list, ["127.0.0.0/8", "::1/128"])):
        try:
            metrics_nets.append(ipaddress.ip_network(str(n), strict=False))
        except ValueError:
            raise ConfigError(f"dashboard.metrics_networks[{i}]: expected a network such as 10.0.0.0/8, got {n!r}") from None
    dashboard = DashboardConfig(
        enabled=_get(dc, "enabled", "dashboard", bool, True), listen=dash_listen,
        port=_range(_get(dc, "port", "dashboard", int, 8080), 0, 65535, "dashboard.port"),
        metrics_networks=metrics_nets, secure_cookies=_get(dc, "secure_cookies", "dashboard", bool, False),
        lockout_after=_range(_get(dc, "lockout_after", "dashboard", int, 5), 1, 100, "dashboard.lockout_after"),
        lockout_minutes=_range(_get(dc, "lockout_minutes", "dashboard", int, 15), 1, 1440, "dashboard.lockout_minutes"),
        trusted_proxies=_proxies(_get(dc, "trusted_proxies", "dashboard", list, [])),
        request_timeout_s=_range(_get(dc, "request_timeout_s", "dashboard", float, 10.0), 1.0, 300.0,
                                 "dashboard.request_timeout_s"),
        connections_per_source=_range(_get(dc, "connections_per_source", "dashboard", int, 32), 2, 10000,
                                      "dashboard.connections_per_source"),
        test_call=_get(dc, "test_call", "dashboard", bool, True),
        test_call_connect_s=_range(_get(dc, "test_call_connect_s", "dashboard", float, 20.0), 2.0, 300.0,
                                   "dashboard.test_call_connect_s"))
    return dashboard


def _twilio_section(data: dict, dashboard: DashboardConfig) -> TwilioConfig:
    """[twilio]: the Media Streams webhook (served on the dashboard's port)."""
    tw = _get(data, "twilio", "", dict, {})
    twilio = TwilioConfig(enabled=_get(tw, "enabled", "twilio", bool, False),
                          public_url=_get(tw, "public_url", "twilio", str, "").rstrip("/"),
                          auth_token=os.environ.get("FRONTDESK_TWILIO_AUTH_TOKEN") or _get(tw, "auth_token", "twilio", str, ""),
                          dial=_get(tw, "dial", "twilio", str, ""),
                          max_streams=_range(_get(tw, "max_streams", "twilio", int, 20), 1, 10000, "twilio.max_streams"))
    if twilio.enabled:
        if not re.match(r"^https?://[^/\s]+(/[^\s?#]*)?$", twilio.public_url):
            raise ConfigError(f"twilio.public_url: expected the https:// address Twilio reaches this server at, "
                              f"got {twilio.public_url!r}")
        if not twilio.auth_token:
            raise ConfigError("twilio.auth_token: required when twilio is enabled (or set $FRONTDESK_TWILIO_AUTH_TOKEN)")
        if not dashboard.enabled:
            raise ConfigError("twilio.enabled: the Twilio webhook is served on the dashboard's web port; "
                              "set dashboard.enabled = true")
    if twilio.dial and not re.match(r"^\+?[\d\-\s()]{3,}$|^sips?:\S+$|^tel:\+?[\d\-]+$", twilio.dial):
        raise ConfigError(f"twilio.dial: expected a phone number or a sip: URI, got {twilio.dial!r}")
    return twilio


def _node_id(data: dict) -> str:
    """[cluster]: this node's id ($FRONTDESK_NODE_ID, the setting, or the host name)."""
    cl = _get(data, "cluster", "", dict, {})
    node_id = os.environ.get("FRONTDESK_NODE_ID") or _get(cl, "node_id", "cluster", str, "") or socket.gethostname()
    if not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", node_id):
        raise ConfigError(f"cluster.node_id: expected up to 64 letters, digits, '.', '_', ':' or '-', got {node_id!r}")
    return node_id


def _hours(table: dict, key: str) -> dict[str, tuple[str, str] | None]:
    hours: dict[str, tuple[str, str] | None] = {}
    for day, value in table.items():
        if day not in DAYS:
            raise ConfigError(f"{key}.{day}: unknown day (expected one of {', '.join(DAYS)})")
        if not isinstance(value, str):
            raise ConfigError(f"{key}.{day}: expected 'HH:MM-HH:MM' or 'closed', got {value!r}")
        if value.strip().lower() == "closed":
            hours[day] = None
            continue
        m = _HOURS_RE.match(value.strip())
        if not m or value.strip()[:5] >= value.strip()[6:]:
            raise ConfigError(f"{key}.{day}: expected 'HH:MM-HH:MM' (opening before closing) or 'closed', got {value!r}")
        hours[day] = (value.strip()[:5], value.strip()[6:])
    for day in DAYS:
        hours.setdefault(day, None)
    return hours
