"""Scoring generated captions and explanations."""
