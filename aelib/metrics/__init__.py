"""Metric functions: reconstruction error and projection quality."""
