"""convseq: sequence processing with 1D convolutional networks on PyTorch."""

__version__ = "0.1.0"
