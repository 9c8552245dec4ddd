"""The plugin kernel: the hooks, the specs a plugin registers, the model contract, the
tasks, the registries and the plugin manager that fills them.

Plugins see it through :mod:`gvetool.plugin_api`. Its modules stay light (no torch at
import), because every ``gvetool`` invocation loads every plugin through it.
"""
