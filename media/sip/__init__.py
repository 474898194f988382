"""Sans-IO SIP: message parsing and serializing, SDP, and the user agent state machine."""
