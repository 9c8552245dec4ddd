"""Workflows of many trainings: cross-validation, the paper's table (``reproduce``), the
demo pipeline, and the jobs a launcher plugin runs for them.
"""
