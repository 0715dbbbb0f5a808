"""The version of mailbill, kept in this one place (hatchling reads it too)."""

__version__ = "0.1.0.dev0"
