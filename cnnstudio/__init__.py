"""cnnstudio — a desktop studio for the classic convolutional networks.

Importing this package must stay instant (no torch): the app's first paint and the
command line's `list` depend on it.
"""

__version__ = "0.1.0"
