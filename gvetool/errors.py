"""The one exception type meant for users.

Anything a user can fix (missing data, wrong checkpoint, bad config) is raised as a
:class:`GvetoolError`; the CLI turns it into one line on stderr and a non-zero exit, and
shows the traceback only with ``--debug``. Everything else is a bug and is reported as one.
"""


class GvetoolError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""

    exit_code = 1
