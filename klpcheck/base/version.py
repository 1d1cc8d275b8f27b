"""The version of klpcheck, written into reports and counterexample files."""

__version__ = "0.1.0"
