"""Snapback: event-driven auto-remediation for AWS Organizations (runtime library)."""

__version__ = "0.1.0"
