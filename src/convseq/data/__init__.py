"""Datasets: finding files, reading them, tokenizing text and windowing series."""
