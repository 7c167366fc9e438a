"""Post report.md on a pull request as one comment, updated in place on every later push.

`make pr-comment PR=<number>` (the workflow .github/workflows/pr.yml runs it) uses the GitHub
CLI's ``gh api`` with the token in ``GH_TOKEN``: it looks for the comment that starts with
report.md's marker line and was written by the same account (the token's user; in a workflow,
whose token cannot read its user, github-actions[bot]), and edits it, or posts a new one if
there is none; someone else's comment is never edited. Nothing is uploaded
anywhere else: the report's pictures stay in the run's `report` artifact.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from genlab import cli
from genlab.errors import GenlabError
from genlab.report.markdown import MARKER, MD_LIMIT


def gh(*args: str, gh_cmd: str = "gh") -> str:
    try:
        proc = subprocess.run([gh_cmd, *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise GenlabError("`gh` (the GitHub CLI) is not installed") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise GenlabError(f"gh {' '.join(args[:3])}: {last}")
    return proc.stdout


WORKFLOW_USER = "github-actions[bot]"  # who a workflow's GITHUB_TOKEN comments as


def author(gh_cmd: str = "gh") -> str:
    """The account the comment is posted as."""
    try:
        return gh("api", "user", "--jq", ".login", gh_cmd=gh_cmd).strip() or WORKFLOW_USER
    except GenlabError:  # a workflow's token may not read /user
        return WORKFLOW_USER


def existing_comment(pr: str, login: str, gh_cmd: str = "gh") -> str | None:
    """The id of this report's earlier comment on the pull request by ``login``, if any (the last one)."""
    out = gh("api", "--paginate", f"repos/{{owner}}/{{repo}}/issues/{pr}/comments", "--jq",
             f'.[] | select((.body | startswith("{MARKER}")) and .user.login == "{login}") | .id', gh_cmd=gh_cmd)
    ids = out.split()
    return ids[-1] if ids else None


def post(pr: str, body: Path, gh_cmd: str = "gh") -> str:
    """Edit the earlier comment or post a new one; returns what was done."""
    text = body.read_text(encoding="utf-8")
    if not text.startswith(MARKER):
        raise GenlabError(f"{body}: not a genlab report (it does not start with {MARKER}); run `make report`")
    if len(text) > MD_LIMIT:
        raise GenlabError(f"{body}: {len(text)} characters, over GitHub's {MD_LIMIT}")
    old = existing_comment(pr, author(gh_cmd), gh_cmd)
    if old:
        gh("api", "-X", "PATCH", f"repos/{{owner}}/{{repo}}/issues/comments/{old}", "-F", f"body=@{body}", gh_cmd=gh_cmd)
        return f"updated comment {old} on pull request {pr}"
    out = gh("api", "-X", "POST", f"repos/{{owner}}/{{repo}}/issues/{pr}/comments", "-F", f"body=@{body}", gh_cmd=gh_cmd)
    return f"posted comment {json.loads(out or '{}').get('id', '')} on pull request {pr}".replace("  ", " ")


def main(args) -> None:
    if not str(args.pr).isdigit():
        raise GenlabError(f"PR={args.pr!r}: give the pull request's number (make pr-comment PR=123)")
    body = Path(args.body)
    if not body.is_file():
        raise GenlabError(f"{body}: no such file; run `make report` first")
    print(post(str(args.pr), body, args.gh))


def parser() -> argparse.ArgumentParser:
    first, _, rest = __doc__.strip().partition("\n")
    p = argparse.ArgumentParser(description=first, epilog=rest.strip(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pr", required=True, help="the pull request's number")
    p.add_argument("--gh", default="gh", help=argparse.SUPPRESS)
    p.add_argument("body", nargs="?", default="report/report.md", help="the comment (default: %(default)s)")
    return p


if __name__ == "__main__":
    cli.run(main, parser().parse_args())
