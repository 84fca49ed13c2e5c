"""derive: verified, step-by-step solution sheets for neural-network exercises."""

__version__ = "0.1.0"
