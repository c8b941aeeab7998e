"""eventapp: live conference voting and networking, self-hosted."""

__version__ = "0.1.0"
