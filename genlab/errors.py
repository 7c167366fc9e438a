"""The one exception type a stage turns into a one-line message and exit code 1."""


class GenlabError(Exception):
    """An expected failure (bad param, bad data, diverged training): the message is for the user."""


class TooShort(GenlabError):
    """The data are too short for what a model needs (a text shorter than its context, say);
    the stage names the data file."""
