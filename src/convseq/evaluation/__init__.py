"""Evaluation: plots, comparisons and reports over finished runs."""
