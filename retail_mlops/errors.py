"""The project's two exception types: a user's mistake, and a fault of the machinery around it.

`run.py` prints either as one line without a traceback, each with its own prefix, so a port in
use or a missing stack component never reads as if the user's data were wrong.
"""


class DataError(ValueError):
    """Bad input from the user: a missing file, a wrong column, an empty table.

    Its message names the problem in one line.
    """


class InfraError(RuntimeError):
    """A fault of the environment, not of the data.

    A port in use, a service that did not start, a stack without a component the job needs,
    an unset environment variable. Its message names the fault and, where there is one, the fix.
    """
