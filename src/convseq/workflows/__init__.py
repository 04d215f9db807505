"""End-to-end flows shared by the presets and the own-data commands (``convseq train ...``)."""
