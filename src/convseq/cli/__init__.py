"""The ``convseq`` command line."""
