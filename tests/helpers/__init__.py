"""What the tests share besides conftest.py: SIP messages, peers and an impaired network path."""
