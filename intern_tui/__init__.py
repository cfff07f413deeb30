"""intern-tui: an autonomous post-training agent, supervised from a full-screen terminal UI."""

__version__ = "0.1.0"
