"""The shell classifier: a command line, parsed by tree-sitter-bash, as guardrail statements.

Why tree-sitter-bash over bashlex: it is maintained (0.25, 2025; bashlex's last release is
from 2023), it parses the whole bash grammar (``case``, arithmetic, here-documents, process
substitution, where bashlex raises), it runs in C, and it marks what it cannot read with
ERROR and MISSING nodes instead of guessing, which is what failing closed needs.

Every simple command is one ``Statement`` (its text, its program, its findings). The walk
reaches every command wherever it sits: pipelines, ``&&`` / ``||`` / ``;`` lists,
subshells, ``{ ...; }`` groups, loops and conditionals, function bodies, command and
process substitution (in arguments, assignments, here-documents and strings). Wrappers are
unwrapped recursively (:mod:`gateway.ssh.commands` says what each program does):
``sudo``/``doas``/``su -c`` (a privilege, and the program they run), ``env`` (its
assignments and program; ``env -S``), ``nice``, ``nohup``, ``time``, ``timeout``,
``exec``, ``command``, ``xargs``, ``stdbuf``, ``setsid``, ``chroot``, ``busybox APPLET``,
``bash -c``/``sh -c``/... and ``eval`` (their text parsed again), ``find -exec``.

Fail closed: a text the parser cannot read (any ERROR or MISSING node), a program name or a
``-c`` text only known when the shell runs (``$CMD``, ``$(...)``), nesting deeper than
``MAX_DEPTH``: ``unknown`` (held). A shell reading commands from its input or a file
(``curl ... | sh``, ``bash script``), ``source``, and programs the table does not know are
``procedural`` (held). Assignments of variables that change which program runs or what a
shell does (``PATH``, ``LD_PRELOAD``, ``BASH_ENV``, ...) are ``config`` (held). Redirections
into system paths (``/etc``, ``/boot``, ``/dev/sd*``, ...) destroy (held); other writes
through a redirection are writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from gateway.guardrails import Classification, Finding, Kind, Statement, unclassifiable
from gateway.ssh.commands import SHELLS, Words, judge_program
from gateway.ssh.wrappers import DANGEROUS_VARS, UNWRAP, Found

__all__ = ["MAX_DEPTH", "ShellState", "Walk", "classify_shell"]

MAX_DEPTH = 8  # wrappers and re-parsed texts inside each other, at most
_LANGUAGE = Language(tree_sitter_bash.language())
_SYSTEM_PATHS = re.compile(r"/(etc|boot|usr|bin|sbin|lib\w*|sys|proc|var/lib|root)(/|$)|/dev/")
_HARMLESS_TARGETS = frozenset(["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"])
_WRITING = frozenset([">", ">>", "&>", "&>>", ">|", "<>", ">&"])
_GLOB = re.compile(r"(?<!\\)[*?\[]")


@dataclass(frozen=True)
class ShellState:
    """A shell command is read on its own: no session state changes how it is classified."""

    def value_of(self, dependency: str) -> object:
        return None


def classify_shell(text: str, state: ShellState | None = None) -> Classification:
    """Every simple command of ``text`` with its findings; never raises (``unknown`` instead)."""
    statements = Walk().text(text, 0)
    if statements is None:
        return unclassifiable(text, "the shell parser cannot read this command line")
    if not statements:
        empty = Statement(text="", command="", findings=(Finding(Kind.READ, "no command"),))
        return Classification((empty,), literal_sensitive=True)
    return Classification(tuple(statements), literal_sensitive=True)


class Walk:
    """One classification: the statements found, in order."""

    def __init__(self) -> None:
        self.parser = Parser(_LANGUAGE)
        self.source = ""  # the text being walked: nodes index it (``_ascii``)

    def text(self, text: str, depth: int) -> list[Statement] | None:
        """The statements of a text; None when it cannot be read."""
        if depth > MAX_DEPTH:
            return None
        outer, self.source = self.source, text
        try:
            tree = self.parser.parse(_ascii(text))
            if tree.root_node.has_error:
                return None
            statements: list[Statement] = []
            for node in _nested(tree.root_node):
                statements.extend(self.node(node, depth))
            return statements
        finally:
            self.source = outer

    def node(self, node: Node, depth: int) -> Iterator[Statement]:
        """The statements of one command-level node (its nested ones included)."""
        kind = node.type
        if kind == "command":
            yield self.command(node, depth)
        elif kind == "variable_assignment":
            yield self.assignments(node, [node], depth)
        elif kind == "declaration_command":
            yield self.assignments(node, _named(node, "variable_assignment"), depth)
        elif kind == "file_redirect":
            statement = self.redirect(node)
            if statement is not None:
                yield statement
        for child in _nested(node):
            yield from self.node(child, depth)

    def command(self, node: Node, depth: int) -> Statement:
        """One simple command: its prefix assignments, program and arguments."""
        found = Found()
        for assignment in _named(node, "variable_assignment"):
            self.assignment(assignment, found)
        name = node.child_by_field_name("name")
        words: list[str | None] = [] if name is None else [_literal(self.source, name)]
        words += [_literal(self.source, arg) for arg in node.children_by_field_name("argument")]
        if words:
            self.program(words, found, depth)
        elif not found.findings:
            found.add(Kind.SESSION, "sets shell variables")
        return _statement(self.source, node, found)

    def assignments(self, node: Node, assignments: list[Node], depth: int) -> Statement:
        found = Found()
        for assignment in assignments:
            self.assignment(assignment, found)
        if not found.findings:
            found.add(Kind.SESSION, "sets shell variables")
        return _statement(self.source, node, found)

    def assignment(self, node: Node, found: Found) -> None:
        name = node.child_by_field_name("name")
        variable = "" if name is None else _text(self.source, name)
        if DANGEROUS_VARS.fullmatch(variable):
            found.add(Kind.CONFIG, f"sets {variable}, which changes what programs run")

    def redirect(self, node: Node) -> Statement | None:
        operator = next((c.type for c in node.children if c.type in _WRITING), None)
        if operator is None:
            return None
        destination = node.child_by_field_name("destination")
        target = None if destination is None else _literal(self.source, destination)
        if target in _HARMLESS_TARGETS or (operator == ">&" and target and target.isdigit()):
            return None
        found = Found()
        if target is None or _SYSTEM_PATHS.match(target):
            found.add(Kind.DESTROY, f"writes {target or 'a path known only at run time'}")
        else:
            found.add(Kind.WRITE, f"writes {target}")
        return Statement(
            text=_text(self.source, node), command="redirect", findings=tuple(found.findings)
        )

    def program(self, words: Words, found: Found, depth: int) -> None:
        """Findings of running ``words`` (a program and its arguments), wrappers unwrapped."""
        if depth > MAX_DEPTH:
            found.add(Kind.UNKNOWN, "wrappers nested too deep")
            return
        first = words[0]
        if first is None or not first:
            found.add(Kind.UNKNOWN, "the program is only known when the shell runs")
            return
        name = first.rsplit("/", 1)[-1]
        found.programs.append(name)
        args = words[1:]
        unwrap = UNWRAP.get(name)
        if unwrap is not None:
            unwrap(self, name, args, found, depth + 1)
        elif name in SHELLS:
            self.shell(name, args, found, depth + 1)
        else:
            found.findings.extend(judge_program(name, args))

    def parsed(self, text: str | None, found: Found, depth: int, what: str) -> None:
        """A text a wrapper runs as shell code (``bash -c``, ``eval``, ``su -c``)."""
        statements = None if text is None else self.text(text, depth)
        if statements is None:
            found.add(Kind.UNKNOWN, f"{what}: its text cannot be read before it runs")
            return
        for statement in statements:
            found.findings.extend(statement.findings)
            found.programs.extend(statement.functions)

    def shell(self, name: str, args: Words, found: Found, depth: int) -> None:
        if name == "busybox" and args:
            self.program(args, found, depth)
            return
        for index, word in enumerate(args):
            if word is None:
                break
            if word.startswith("-") and "c" in word[1:] and not word.startswith("--"):
                text = args[index + 1] if index + 1 < len(args) else None
                self.parsed(text, found, depth, f"{name} -c")
                return
            if not word.startswith(("-", "+")):
                break
        found.add(Kind.PROCEDURAL, f"{name}: runs a script or commands from its input", name)


def _statement(source: str, node: Node, found: Found) -> Statement:
    command = found.programs[-1] if found.programs else "?"
    return Statement(
        text=_text(source, node),
        command=command,
        findings=tuple(found.findings),
        functions=tuple(dict.fromkeys(found.programs)),
    )


_LEVEL = frozenset(
    ["command", "variable_assignment", "declaration_command", "file_redirect"]
)  # fmt: skip


def _nested(node: Node) -> Iterator[Node]:
    """The command-level nodes inside ``node``, outermost first (each handles its own inside);
    the assignments a command or declaration owns are searched for substitutions only."""
    for child in node.named_children:
        owned = child.type == "variable_assignment" and node.type in _OWNERS
        if child.type in _LEVEL and not owned:
            yield child
        else:
            yield from _nested(child)


_OWNERS = frozenset(["command", "declaration_command"])


def _named(node: Node, kind: str) -> list[Node]:
    return [child for child in node.named_children if child.type == kind]


def _text(source: str, node: Node) -> str:
    """The node's text in the original (``_ascii`` kept every offset)."""
    return source[node.start_byte : node.end_byte]


def _literal(source: str, node: Node) -> str | None:
    """The word as the shell would pass it, when no expansion is in it; None otherwise."""
    kind = node.type
    if kind in {"word", "number"}:
        text = _text(source, node)
        if _GLOB.search(text) or "$" in text:
            return None
        return re.sub(r"\\(.)", r"\1", text)
    if kind == "command_name":
        inner = node.named_children
        return _literal(source, inner[0]) if len(inner) == 1 else None
    if kind == "raw_string":
        return _text(source, node)[1:-1]
    if kind == "string":
        if all(c.type == "string_content" for c in node.named_children):
            return re.sub(r'\\([$`"\\\n])', r"\1", _text(source, node)[1:-1])
        return None
    if kind == "concatenation":
        parts = [_literal(source, c) for c in node.named_children]
        if any(p is None for p in parts):
            return None
        return "".join(p for p in parts if p is not None)
    return None


def _ascii(text: str) -> bytes:
    """The text for the parser: every character outside ASCII replaced by one letter, so that
    each byte offset of the tree is the character offset in ``text``. tree-sitter-bash 0.25's
    scanner crashed the process (SIGSEGV) on some texts with characters outside the BMP
    (found by the Hypothesis test); outside ASCII, bash reads every character as part of a
    word, as a letter is."""
    return _NOT_ASCII.sub("a", text).encode("ascii")


_NOT_ASCII = re.compile(r"[^\x00-\x7f]")
