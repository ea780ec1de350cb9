"""facegate: self-hosted face recognition whose responsible-use rules are enforced in software."""

__version__ = "0.1.0"
