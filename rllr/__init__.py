"""rllr: reinforcement learning for natural-language understanding.

Importing the package is cheap on purpose: it imports nothing heavy (no torch).
"""

__version__ = "0.1.0"
