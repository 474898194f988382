"""frontdesk: an on-premises AI receptionist for clinics, answering over SIP with local models."""

__version__ = "0.1.0"
