"""The version, in a module of its own: every other module may import it without a cycle."""

__version__ = "0.2.0"
