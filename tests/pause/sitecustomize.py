"""A test's hook (tests/helpers.py, ``pausing_env``): a stage process (``python -m stages.<name>``)
started with this folder on PYTHONPATH and GENLAB_TEST_PAUSE_AT set stops itself (SIGSTOP) at a
point of its own progress, after writing its pid to GENLAB_TEST_PAUSE_MARKER, so that a test can
kill it there whatever the machine's speed:

- ``start``: the interpreter is up, before the stage imports anything;
- ``first temporary``: just after it created the first temporary file or folder in the
  repository (the sibling an output is written into);
- ``first commit``: just before its first rename in the repository (an output moved into place).

Every other process (DVC itself, git) only reads this file and goes on.
"""

import os
import signal
import sys

_POINT = os.environ.get("GENLAB_TEST_PAUSE_AT")
_ARGV = getattr(sys, "orig_argv", [])


def _stop():
    global _POINT
    _POINT = None  # once
    marker = os.environ["GENLAB_TEST_PAUSE_MARKER"]
    with open(marker + ".part", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(marker + ".part", marker)  # the wrapper below lets it through: _POINT is None
    os.kill(os.getpid(), signal.SIGSTOP)


def _in_repo(path) -> bool:
    try:
        return os.path.realpath(path).startswith(os.path.realpath(os.getcwd()) + os.sep)
    except (TypeError, ValueError):
        return False


def _is_stage() -> bool:
    """Whether this process is `python -m stages.<name> ...`."""
    return "-m" in _ARGV and _ARGV.index("-m") + 1 < len(_ARGV) and _ARGV[_ARGV.index("-m") + 1].startswith("stages.")


if _POINT and _is_stage():
    if _POINT == "start":
        _stop()
    elif _POINT == "first temporary":
        import tempfile

        def _wrap(make):
            def made(*args, **kwargs):
                out = make(*args, **kwargs)
                name = out[1] if isinstance(out, tuple) else out
                if _POINT and _in_repo(name):
                    _stop()
                return out
            return made

        tempfile.mkstemp, tempfile.mkdtemp = _wrap(tempfile.mkstemp), _wrap(tempfile.mkdtemp)
    elif _POINT == "first commit":
        _replace = os.replace

        def _replacing(src, dst, *args, **kwargs):
            if _POINT and _in_repo(dst):
                _stop()
            return _replace(src, dst, *args, **kwargs)

        os.replace = _replacing
