"""The one exception type a stage turns into a one-line message and exit code 1."""


class GenlabError(Exception):
    """An expected failure (bad param, bad data, diverged training): the message is for the user."""


def one_line(exc: BaseException) -> str:
    """Why ``exc`` was raised, in one short line: the first line of its message (a parser's may
    span lines, or be empty: then the exception's type), cut to 160 characters."""
    text = next((" ".join(line.split()) for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return text if len(text) <= 160 else text[:157] + "..."


class TooShort(GenlabError):
    """The data are too short for what a model needs (a text shorter than its context, say);
    the stage names the data file."""
