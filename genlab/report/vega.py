"""`dvc plots show` with no network: DVC's page template with vega, vega-lite and vega-embed inlined.

DVC's default page loads the three libraries from a CDN, so offline every curve is blank.
``.dvc/config`` points ``plots.html_template`` at ``.dvc/plots_template.html``, which this
module writes from the bundle that vl-convert-python ships (the same libraries, no download);
``make install`` runs it, so ``make repro`` and ``make test`` have it too. The file is
generated, so it is git-ignored: a configured template that is missing makes
``dvc plots show`` fail, which is why the Makefile, not git, provides it.

    python -m genlab.report.vega .dvc/plots_template.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.io import atomic_file

# DVC's vega templates declare Vega-Lite v5; the bundle carries the newest 5.x vl-convert has.
VEGA_LITE = "v5.21"

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{refresh_tag}
<title>DVC plots</title>
<script>
{bundle}
</script>
<style>
body {{ font-family: sans-serif; }}
table {{ border-spacing: 15px; }}
</style>
</head>
<body>
{plot_divs}
</body>
</html>
"""


def template() -> str:
    """The page: DVC fills in ``{plot_divs}`` and ``{refresh_tag}``; there is no ``{scripts}``
    placeholder, so DVC's CDN script tags are never written."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE)
    for placeholder in ("{plot_divs}", "{refresh_tag}", "{scripts}"):
        if placeholder in bundle:  # DVC replaces placeholders anywhere in the page
            raise RuntimeError(f"the vega bundle contains {placeholder}; DVC would overwrite it")
    if "</script" in bundle.lower():
        raise RuntimeError("the vega bundle contains </script> and cannot be inlined")
    return PAGE.format(bundle=bundle, refresh_tag="{refresh_tag}", plot_divs="{plot_divs}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().partition("\n")[0])
    p.add_argument("path", help="where to write the template (.dvc/plots_template.html)")
    args = p.parse_args(argv)
    with atomic_file(Path(args.path)) as tmp:
        tmp.write_text(template(), encoding="utf-8")
        tmp.chmod(0o644)
    print(f"wrote {args.path}", file=sys.stderr)


if __name__ == "__main__":
    main()
