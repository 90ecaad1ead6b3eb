"""The command line starts without the heavy parts: what ``airlock --help`` and the HTTP commands
import, and the names it lists before importing their owners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from approvals import IdentityKind
from gateway.cli.compose import JOB_NAMES as COMPOSED_JOBS
from gateway.cli.names import IDENTITY_KINDS, JOB_NAMES
from gateway.identity.tokens import TokenService, generate_key, load_key

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


def test_token_create_with_the_key_in_the_environment_opens_no_store(tmp_path: Path) -> None:
    """With AIRLOCK_SIGNING_KEY set, ``token create`` mints a token that verifies, loading no
    store, ORM, web framework, runtime, configuration models (pydantic) or JOSE library: the
    token module signs with the key itself."""
    config = tmp_path / "airlock.toml"
    config.write_text(f'[store]\nurl = "sqlite+aiosqlite:///{tmp_path / "none.db"}"\n')
    pem = generate_key().private_pem()
    code = (
        "import sys\n"
        "from gateway.cli.main import main\n"
        f"code = main(['token', 'create', '--config', {str(config)!r}, '--subject', 'a@b.c'])\n"
        "print('MODULES', ' '.join(sys.modules))\n"
        "sys.exit(code)"
    )
    env = {**os.environ, "AIRLOCK_SIGNING_KEY": pem}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    token = lines[1]
    loaded = set(lines[-1].removeprefix("MODULES ").split())
    heavy = {*HEAVY, "joserfc", "pydantic_settings", "gateway.config", "urllib.request"}
    assert not {m for m in loaded if m.split(".")[0] in heavy or m in heavy}
    assert TokenService(load_key(pem)).verify(token)[0].subject == "a@b.c"
    assert not (tmp_path / "none.db").exists()
