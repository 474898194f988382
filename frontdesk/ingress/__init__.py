"""Ingresses: each turns one way calls arrive into the call hub's three calls (frontdesk.calls).

sip.py: SIP and RTP (our user agent, SDP offers and answers, registration, REFER transfers);
twilio.py: Twilio Programmable Voice webhooks and Media Streams (with twilio_signature.py, the
webhook signature check); webrtc.py: the dashboard's browser test calls.
"""
