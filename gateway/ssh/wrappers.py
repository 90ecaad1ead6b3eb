"""The wrappers the shell classifier unwraps: programs that run another program (or a text of
shell code) given in their words. Each one adds its own findings (``sudo`` is a privilege) and
hands the program it runs back to the walk (:mod:`gateway.ssh.shell`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.guardrails import Finding, Kind
from gateway.ssh.commands import Words, judge_program

if TYPE_CHECKING:
    from gateway.ssh.shell import Walk

__all__ = ["DANGEROUS_VARS", "UNWRAP", "Found", "Unwrap"]

# Variables that change which program a name runs, or what a shell or the loader does.
DANGEROUS_VARS = re.compile(
    r"PATH|LD_\w+|BASH_ENV|ENV|IFS|SHELLOPTS|BASHOPTS|PROMPT_COMMAND|PS4|BASH_FUNC_\w+|"
    r"GCONV_PATH|PYTHON\w*|PERL5?\w*|RUBY\w*|NODE_OPTIONS"
)


@dataclass
class Found:
    """The findings of one simple command, as its wrappers are unwrapped."""

    findings: list[Finding] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)

    def add(self, kind: Kind, detail: str, program: str | None = None) -> None:
        self.findings.append(Finding(kind, detail, function=program))


def _options(text: str) -> frozenset[str]:
    return frozenset(text.split())


Unwrap = Callable[["Walk", str, Words, Found, int], None]


def _wrapped(skip_values: frozenset[str], kind: Kind | None = None) -> Unwrap:
    """A wrapper that takes options (``skip_values``: those with a value) then a program."""

    def unwrap(walk: Walk, name: str, args: Words, found: Found, depth: int) -> None:
        if kind is not None:
            found.add(kind, f"{name}: runs a program with other privileges", name)
        rest = _after_options(args, skip_values)
        if name == "timeout" and rest:
            rest = rest[1:]  # the duration
        if name == "chroot" and rest:
            rest = rest[1:]  # the new root
        if rest:
            walk.program(rest, found, depth)
        elif kind is None:
            found.findings.extend(judge_program(_ALONE.get(name, name), ()))

    return unwrap


def _env(walk: Walk, name: str, args: Words, found: Found, depth: int) -> None:
    rest = list(args)
    while rest and (rest[0] is None or rest[0].startswith("-") or "=" in rest[0]):
        word = rest.pop(0)
        if word is None:
            found.add(Kind.UNKNOWN, "env: a word known only at run time")
            return
        if word in {"-S", "--split-string"}:
            walk.parsed(rest[0] if rest else None, found, depth, "env -S")
            return
        if word in {"-u", "--unset", "-C", "--chdir"} and rest:
            rest.pop(0)
        elif "=" in word and not word.startswith("-"):
            variable = word.split("=", 1)[0]
            if DANGEROUS_VARS.fullmatch(variable):
                found.add(Kind.CONFIG, f"sets {variable}, which changes what programs run")
    if rest:
        walk.program(rest, found, depth)
    else:
        found.add(Kind.READ, "env: prints the environment", "env")


def _su(walk: Walk, name: str, args: Words, found: Found, depth: int) -> None:
    found.add(Kind.PRIVILEGE, f"{name}: runs as another user", name)
    for index, word in enumerate(args):
        if word in {"-c", "--command"}:
            text = args[index + 1] if index + 1 < len(args) else None
            walk.parsed(text, found, depth, f"{name} -c")


def _eval(walk: Walk, name: str, args: Words, found: Found, depth: int) -> None:
    text = None if any(w is None for w in args) else " ".join(w for w in args if w is not None)
    walk.parsed(text, found, depth, "eval")


def _source(walk: Walk, name: str, args: Words, found: Found, depth: int) -> None:
    found.add(Kind.PROCEDURAL, f"{name}: runs a script", name)


def _find(walk: Walk, name: str, args: Words, found: Found, depth: int) -> None:
    """find reads, unless it deletes, writes (``-fprint``) or runs a program (``-exec``)."""
    found.add(Kind.READ, "find: reads", "find")
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word == "-delete":
            found.add(Kind.DESTROY, "find -delete: deletes files", "find")
        elif word in {"-fprint", "-fprint0", "-fprintf", "-fls"}:
            found.add(Kind.WRITE, f"find {word}: writes a file", "find")
        elif word in {"-exec", "-execdir", "-ok", "-okdir"}:
            end = next((i for i, w in enumerate(rest) if w in {";", "+"}), len(rest))
            command, rest = rest[:end], rest[end + 1 :]
            if command:
                walk.program(command, found, depth)


_ALONE = {"xargs": "echo", "time": "true", "nohup": "true", "command": "true"}
UNWRAP: dict[str, Unwrap] = {
    "sudo": _wrapped(_options("-u -g -h -p -C -D -r -t -U -T"), Kind.PRIVILEGE),
    "doas": _wrapped(frozenset(["-u", "-C"]), Kind.PRIVILEGE),
    "runuser": _wrapped(frozenset(["-u", "-g", "-G"]), Kind.PRIVILEGE),
    "chroot": _wrapped(frozenset(["--userspec", "--groups"]), Kind.PRIVILEGE),
    "su": _su,
    "env": _env,
    "eval": _eval,
    "source": _source,
    ".": _source,
    "find": _find,
    "nice": _wrapped(frozenset(["-n"])),
    "nohup": _wrapped(frozenset()),
    "time": _wrapped(frozenset(["-f", "-o"])),
    "timeout": _wrapped(frozenset(["-s", "-k", "--signal", "--kill-after"])),
    "exec": _wrapped(frozenset(["-a"])),
    "command": _wrapped(frozenset()),
    "builtin": _wrapped(frozenset()),
    "stdbuf": _wrapped(frozenset(["-i", "-o", "-e"])),
    "ionice": _wrapped(frozenset(["-c", "-n", "-p"])),
    "setsid": _wrapped(frozenset()),
    "xargs": _wrapped(_options("-I -i -n -d -P -L -l -s -a -E -e --delimiter")),
}


def _after_options(args: Words, with_value: frozenset[str]) -> list[str | None]:
    rest = list(args)
    while rest and rest[0] is not None and rest[0].startswith("-") and rest[0] != "-":
        word = rest.pop(0)
        if word == "--":
            break
        if word in with_value and rest:
            rest.pop(0)
    return rest
