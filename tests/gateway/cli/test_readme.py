"""The README keeps its promises: the first section is `make demo` and `make test`, its
example configuration loads, and every `airlock` command it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.cli.main import main
from gateway.config import load_settings

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every ``## `` section, in order."""
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return list(zip(parts[1::2], parts[2::2], strict=True))


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_first_section_is_the_two_commands() -> None:
    """The first section's first code block is exactly `make demo` then `make test`."""
    _, body = sections(README)[0]
    (block, *_) = code_blocks(body, "sh")
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_makefile_has_the_two_targets() -> None:
    """The Makefile defines demo and test, and demo runs an `airlock` command that exists."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo:", makefile, flags=re.MULTILINE)
    assert re.search(r"^test:", makefile, flags=re.MULTILINE)
    demo = re.search(r"^demo:.*\n\t(.+)$", makefile, flags=re.MULTILINE)
    assert demo is not None
    words = demo.group(1).split()
    assert words[0].endswith("/airlock")
    with pytest.raises(SystemExit) as exited:
        main([*words[1:], "--help"])
    assert exited.value.code == 0


def test_example_configuration_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's airlock.toml loads as it stands, each password from its variable."""
    (example,) = code_blocks(README, "toml")
    path = tmp_path / "airlock.toml"
    path.write_text(example, encoding="utf-8")
    monkeypatch.setenv("PG_PROD_PASSWORD", "from-the-environment")
    monkeypatch.setenv("MYSQL_PROD_PASSWORD", "mysql-from-the-environment")
    settings = load_settings(path)
    pg, mysql = settings.connections
    assert (pg.name, pg.type) == ("pg-prod", "postgres")
    assert pg.password() == "from-the-environment"
    assert (mysql.name, mysql.type) == ("mysql-prod", "mysql")
    assert mysql.password() == "mysql-from-the-environment"
    assert settings.listeners.mysql == "127.0.0.1:13306"


def named_commands(text: str) -> set[tuple[str, ...]]:
    """The sub-commands of every `airlock ...` the text shows (options and IDs dropped)."""
    found = set()
    for snippet in re.findall(r"`airlock ([^`]+)`", text):
        words = []
        for word in snippet.split():
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            words.append(word)
        found.add(tuple(words))
    return found


def test_every_named_command_exists(capsys: pytest.CaptureFixture[str]) -> None:
    """Each `airlock ...` command the README names is one the CLI knows."""
    commands = named_commands(README)
    assert {("up",), ("db", "upgrade"), ("token", "create"), ("audit", "verify")} <= commands
    for words in sorted(commands):
        with pytest.raises(SystemExit) as exited:
            main([*words, "--help"])
        assert exited.value.code == 0, words
    capsys.readouterr()
