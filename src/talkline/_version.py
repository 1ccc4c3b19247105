"""The version, in one place (imported by the package and the wire)."""

__version__ = "0.1.0"
