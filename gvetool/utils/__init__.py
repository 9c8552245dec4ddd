"""Foundation: errors, safe files, unpickling, archives, paths, console and progress.

Nothing here imports another gvetool package or asks the plugin manager; every layer
above may use it. Most modules import only the standard library (and rich for the
console), so the console script can report a start-up Ctrl-C before anything heavy loads.
"""
