"""Documentation generated from the params schema, so that defaults are stated once.

``python -m genlab.docs params`` prints ``params.yaml`` (every key of every section, its
default and its description as a comment); ``python -m genlab.docs table`` prints the
README's params table. ``tests/test_docs.py`` checks that the committed files hold exactly
what these print.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from pydantic import BaseModel

from genlab import registry
from genlab.params import DEFAULT_MODELS, CoreParams, schema

HEADER = """\
# genlab pipeline params, generated from the schema by `python -m genlab.docs params`
# (edit values freely; tests/test_docs.py checks that the committed file keeps the defaults).
# Each section is read by the stages named beside it, and each stage depends on its whole
# sections, so `dvc exp run -S vae.lr=1e-4` reruns only the VAE's stages. Every key is
# documented in README.md.
"""


def _value(v) -> str:
    """A YAML scalar or flow list that PyYAML reads back as the same value (1e-06 would be a string)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return np.format_float_positional(v, trim="0")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def model_order() -> list[str]:
    """The default models first, in their order, then every other model."""
    return [*DEFAULT_MODELS, *(m for m in registry.names() if m not in DEFAULT_MODELS)]


def _sections():
    """(name, description, section model or None for a top-level value) in file order."""
    full = schema(tuple(registry.names()))()
    for name, field in CoreParams.model_fields.items():
        yield name, field.description, getattr(full, name)
    for name in model_order():
        yield name, f"`train@{name}`, `generate@{name}`, `evaluate@{name}`", getattr(full, name)


def params_yaml() -> str:
    lines = [HEADER]
    for name, description, value in _sections():
        if not isinstance(value, BaseModel):
            lines.append(f"{name}: {_value(value)}  # {description}\n")
            continue
        lines.append(f"\n{name}:  # {description}\n")
        for key, field in type(value).model_fields.items():
            lines.append(f"  {key}: {_value(getattr(value, key))}  # {field.description}\n")
    return "".join(lines)


def params_table() -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, description, value in _sections():
        if not isinstance(value, BaseModel):
            rows.append(f"| `{name}` | `{_value(value)}` | {description} |")
            continue
        for key, field in type(value).model_fields.items():
            rows.append(f"| `{name}.{key}` | `{_value(getattr(value, key))}` | {field.description} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["params", "table"], help="params.yaml, or the README's params table")
    args = parser.parse_args(argv)
    sys.stdout.write(params_yaml() if args.what == "params" else params_table())


if __name__ == "__main__":
    main()
