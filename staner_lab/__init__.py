"""staner-lab: a teaching and analysis kit for STANER (spatio-temporal attention network for FER)."""

__version__ = "0.1.0"
