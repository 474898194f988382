"""A test call from the browser (WebRTC), when the server has the WebRTC ingress."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from .common import Dash, Me, form_fields

log = logging.getLogger("frontdesk.dashboard")


def routes(d: Dash) -> APIRouter:
    r = APIRouter()

    @r.get("/test-call")
    def test_call_page(request: Request, me: Me = Depends(d.me_dep)):
        return d.render(request, "test_call.html", me)

    @r.post("/test-call/offer")
    async def test_call_offer(request: Request, form: dict = Depends(form_fields)):
        me = d.need_post(request, form)
        sdp = form.get("sdp", "")
        if not sdp or len(sdp) > 20000:
            return JSONResponse({"error": "no offer"}, status_code=400)
        try:
            call_id, answer = await d.test_calls.answer(sdp, me.username, d.client_ip(request))
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        log.info("user %s started test call %s", me.username, call_id)
        return JSONResponse({"call_id": call_id, "type": "answer", "sdp": answer})

    @r.post("/test-call/hangup")
    async def test_call_hangup(request: Request, form: dict = Depends(form_fields)):
        me = d.need_post(request, form)
        # staff hang up their own test calls; an administrator may end any
        owner = None if me.role == "admin" else me.username
        return JSONResponse({"ended": await d.test_calls.hangup(form.get("call_id", ""), owner)})

    return r
