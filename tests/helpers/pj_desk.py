"""A phone played by pjsua2 in its own process: the front desk for the transfer tests, the
patient's phone for the reminder-call tests.

    python -m tests.helpers.pj_desk --port 5070 --json desk.json [--ring-ms 500] [--hold-s 2] [--timeout 120]
                                    [--dtmf 1 --dtmf-after-s 12]

It listens for SIP on 127.0.0.1:PORT (UDP) with its own RTP ports (--rtp-port, away from the test
caller's 41000-42999 and frontdesk's 20000-20999), rings (180) for --ring-ms, answers the first
INVITE with 200, hangs up --hold-s after the call is confirmed (or lets the caller hang up first)
and exits. What it saw is written to --json on every change: the INVITE's From, To, Referred-By and
User-Agent, the states the call went through, whether its media became active, how many RTP packets it
received, and who ended it. With --dtmf, it presses those keys (RFC 4733) --dtmf-after-s after the
call is confirmed.
It exits 0 once a call was confirmed and ended, 1 otherwise (no call within --timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time


def _header(msg: str, *names: str) -> str | None:
    for line in msg.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in names:
            return value.strip()
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="SIP UDP port on 127.0.0.1")
    ap.add_argument("--json", required=True, help="where to write what the desk saw")
    ap.add_argument("--rtp-port", type=int, default=43200, help="first RTP port (default 43200; 400 are tried)")
    ap.add_argument("--ring-ms", type=int, default=500, help="ring (180) this long before answering")
    ap.add_argument("--hold-s", type=float, default=2.0, help="hang up this long after the call is confirmed")
    ap.add_argument("--timeout", type=float, default=120.0, help="give up if no call has ended by then")
    ap.add_argument("--dtmf", default="", help="keys to press once the call is up (RFC 4733)")
    ap.add_argument("--dtmf-after-s", type=float, default=5.0, help="this long after the call is confirmed")
    args = ap.parse_args(argv)

    import pjsua2 as pj

    seen: dict = {"listening": f"127.0.0.1:{args.port}", "invites": 0, "states": [], "confirmed": False,
                  "media_active": False, "ended_by": None, "last_status": None}

    def save() -> None:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(seen, f, indent=2)
        os.replace(tmp, args.json)

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.userAgent = "frontdesk-test-desk (pjsua2)"
    cfg.logConfig.level = 3
    cfg.logConfig.consoleLevel = 3
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.channelCount = 1
    cfg.medConfig.ecTailLen = 0
    cfg.medConfig.noVad = True  # a phone sends its (silent) audio all along, as a handset does
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = args.port
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.audDevManager().setNullDev()
    ep.libStart()

    state = {"call": None, "ring_until": None, "hangup_at": None, "done": False, "local_hangup": False,
             "dtmf_at": None}
    keep: list = []  # every Call object stays referenced until the process exits

    class DeskCall(pj.Call):
        def onCallState(self, prm):
            ci = self.getInfo()
            seen["states"].append(ci.stateText)
            seen["last_status"] = ci.lastStatusCode
            if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
                seen["confirmed"] = True
                seen["remote_uri"] = ci.remoteUri
                state["hangup_at"] = time.monotonic() + args.hold_s
                if args.dtmf:
                    state["dtmf_at"] = time.monotonic() + args.dtmf_after_s
            elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                seen["ended_by"] = "desk" if state["local_hangup"] else "caller"
                state["done"] = True
            save()

        def onCallMediaState(self, prm):
            ci = self.getInfo()  # keep it: iterating a temporary's vector reads freed memory
            for mi in ci.media:
                if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    # the (null) microphone into the call: its stream is clocked, so it sends RTP
                    # and the RFC 4733 digits pressed
                    ep.audDevManager().getCaptureDevMedia().startTransmit(self.getAudioMedia(mi.index))
                    seen["media_active"] = True
                    save()

    class DeskAccount(pj.Account):
        def onIncomingCall(self, prm):
            msg = prm.rdata.wholeMsg
            seen["invites"] += 1
            call = DeskCall(self, prm.callId)
            keep.append(call)
            if state["call"] is not None:  # one call at a time
                op = pj.CallOpParam()
                op.statusCode = 486
                call.answer(op)
                save()
                return
            seen.update({
                "from": _header(msg, "from", "f"),
                "to": _header(msg, "to", "t"),
                "referred_by": _header(msg, "referred-by", "b"),
                "user_agent": _header(msg, "user-agent"),
                "source": prm.rdata.srcAddress,
            })
            m = re.search(r"<?sips?:([^@;>]+)@", seen["from"] or "")
            seen["from_user"] = m.group(1) if m else None
            state["call"] = call
            op = pj.CallOpParam()
            op.statusCode = 180
            call.answer(op)
            state["ring_until"] = time.monotonic() + args.ring_ms / 1000
            save()

    acc = DeskAccount()
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:desk@127.0.0.1:{args.port}"
    acfg.mediaConfig.transportConfig.port = args.rtp_port
    acfg.mediaConfig.transportConfig.portRange = 400
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc.create(acfg)
    acc.setDefault()
    save()
    print(f"desk listening on 127.0.0.1:{args.port}", flush=True)

    deadline = time.monotonic() + args.timeout
    drain_until = None
    next_stat = 0.0
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
        now = time.monotonic()
        call = state["call"]
        if call is None:
            continue
        if state["ring_until"] is not None and now >= state["ring_until"]:
            state["ring_until"] = None
            if not state["done"]:
                op = pj.CallOpParam()
                op.statusCode = 200
                call.answer(op)
        if seen["media_active"] and not state["done"] and now >= next_stat:
            next_stat = now + 0.5
            try:  # RTP received from the caller so far
                seen["rtp_rx_packets"] = call.getStreamStat(0).rtcp.rxStat.pkt
            except pj.Error:
                pass
        if state["dtmf_at"] is not None and now >= state["dtmf_at"] and not state["done"]:
            state["dtmf_at"] = None
            call.dialDtmf(args.dtmf)
            seen["dtmf_sent"] = args.dtmf
            save()
        if state["hangup_at"] is not None and now >= state["hangup_at"] and not state["done"]:
            state["hangup_at"] = None
            state["local_hangup"] = True
            call.hangup(pj.CallOpParam(True))
        if state["done"]:
            drain_until = drain_until or now + 0.5  # let the BYE's 200 (or ours) go out
            if now >= drain_until:
                break
    ok = seen["confirmed"] and state["done"]
    seen["exit"] = "ok" if ok else "timeout"
    save()
    sys.stdout.flush()
    # no pjsua2 teardown: destroying calls and ports racing the media clock can abort
    # (pjmedia_conf_remove_port); the call is over and the JSON written
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
