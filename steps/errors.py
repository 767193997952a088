"""The one exception type for a user's mistake; the CLI prints it as a single line."""


class DataError(ValueError):
    """Bad input from the user: a missing file, a wrong column, an empty table.

    Its message names the problem in one line; `run.py` prints it without a traceback.
    """
