"""Exporting trained runs for use without convseq (ONNX)."""
