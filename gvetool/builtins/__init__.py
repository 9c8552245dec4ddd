"""The built-in plugins: datasets, encoders, models, metrics, trackers and launchers.

Each subpackage is registered through gvetool's own ``gvetool`` entry points, exactly as a
third-party package registers: nothing else in gvetool imports them, and they do not
import each other (both checked in lint).
"""
