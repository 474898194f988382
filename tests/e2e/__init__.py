"""End-to-end tests: real `frontdesk serve` processes with real SIP peers, models, browsers and services."""
