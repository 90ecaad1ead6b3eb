"""The command line starts without the heavy parts: what ``airlock --help`` and the HTTP commands
import, and the names it lists before importing their owners."""

from __future__ import annotations

import subprocess
import sys

from approvals import IdentityKind
from gateway.cli.compose import JOB_NAMES as COMPOSED_JOBS
from gateway.cli.names import IDENTITY_KINDS, JOB_NAMES

HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "httpx", "pydantic", "store", "gateway.runtime")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


def test_names_match_their_owners() -> None:
    """The parser's job names and identity kinds are the scheduler's and the domain's."""
    assert JOB_NAMES == COMPOSED_JOBS
    assert tuple(k.value for k in IdentityKind) == IDENTITY_KINDS


def test_parsing_imports_nothing_heavy() -> None:
    """Building the parser (``airlock --help``) loads no store, ORM, web framework or HTTP lib."""
    loaded = _loaded_after("from gateway.cli.main import _parser\n_parser()")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY}, sorted(loaded)


def test_review_commands_import_nothing_heavy() -> None:
    """``reviews list`` up to its HTTP call loads none of them either (stdlib HTTP client)."""
    code = (
        "from gateway.cli.main import _parser\n"
        "args = _parser().parse_args(['reviews', 'list'])\n"
        "from gateway.cli.client import ApiClient\n"
        "ApiClient('http://127.0.0.1:9', 'token')"
    )
    loaded = _loaded_after(code)
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m in HEAVY}, sorted(loaded)
