"""One base class for errors whose message is written for the person using CNN Lab.

Like TensorBoard's PublicError: the message names the problem in the learner's words, so a
page or the CLI catches UserError and shows str(error) as it is; anything else is a bug and
goes to the log. Each module keeps its own subclass (ConfigError, DataError, RunError, ...),
which also stays a ValueError/RuntimeError as before.
"""


class UserError(Exception):
    """An error whose message is meant for the user, to show as it is."""
