"""A run's configuration: the schema of its keys, TOML files, and its resolution against
the installed plugins (a model's own options, the metrics that validate it).

It sits above the plugin kernel because a model's options are declared by its spec.
"""
