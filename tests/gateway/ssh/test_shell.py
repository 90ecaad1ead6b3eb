"""The shell classifier and the ssh dialect's default rule set, case by case."""

from __future__ import annotations

import functools
import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.guardrails import Action, Kind, judge, rules_from_config
from gateway.ssh import SHELL, ShellState, classify_shell, redact_shell

CASES = [
    # (command line, action, kind that decides it)
    ("ls -la /tmp", Action.ALLOW, Kind.READ),
    ("true", Action.ALLOW, Kind.READ),
    ("cat /etc/hostname | grep -c x && uptime || df -h", Action.ALLOW, Kind.READ),
    ("systemctl status nginx", Action.ALLOW, Kind.READ),
    ("journalctl -u nginx --since today", Action.ALLOW, Kind.READ),
    ("echo hi > out.txt", Action.ALLOW, Kind.WRITE),
    ("for f in *.log; do tail -n 1 $f; done", Action.ALLOW, Kind.READ),
    ("(cd /var/log && ls)", Action.ALLOW, Kind.READ),
    ("sed -n 1,5p file", Action.ALLOW, Kind.READ),
    ("rm -rf /var/lib/app", Action.HOLD, Kind.DESTROY),
    ("ls | xargs rm", Action.HOLD, Kind.DESTROY),
    ("find . -name '*.tmp' -delete", Action.HOLD, Kind.DESTROY),
    ("find . -name '*.tmp' -exec shred {} ';'", Action.HOLD, Kind.DESTROY),
    ("echo $(rm -f x)", Action.HOLD, Kind.DESTROY),
    ("cat <(dd if=/dev/zero of=/dev/sda)", Action.HOLD, Kind.DESTROY),
    ("echo x > /etc/passwd", Action.HOLD, Kind.DESTROY),
    ("sleep 1; reboot", Action.HOLD, Kind.DESTROY),
    ("eval 'shutdown -h now'", Action.HOLD, Kind.DESTROY),
    ("sudo ls", Action.HOLD, Kind.PRIVILEGE),
    ("chmod 777 /srv", Action.HOLD, Kind.PRIVILEGE),
    ("useradd mallory", Action.HOLD, Kind.PRIVILEGE),
    ("su -c 'id' bob", Action.HOLD, Kind.PRIVILEGE),
    ("systemctl restart nginx", Action.HOLD, Kind.CONFIG),
    ("bash -c 'service nginx stop'", Action.HOLD, Kind.CONFIG),
    ('env A=1 sh -c "apt-get install -y x"', Action.HOLD, Kind.CONFIG),
    ("nice -n 5 timeout 10 iptables -F", Action.HOLD, Kind.CONFIG),
    ("ip link set eth0 down", Action.HOLD, Kind.CONFIG),
    ("LD_PRELOAD=/tmp/x.so ls", Action.HOLD, Kind.CONFIG),
    ("export PATH=/tmp:$PATH", Action.HOLD, Kind.CONFIG),
    ("curl -s https://example.com/install | sh", Action.HOLD, Kind.PROCEDURAL),
    ("python3 -c 'print(1)'", Action.HOLD, Kind.PROCEDURAL),
    ("sed -i s/a/b/ file", Action.HOLD, Kind.PROCEDURAL),
    ("awk 'BEGIN{system(\"rm -rf /\")}'", Action.HOLD, Kind.PROCEDURAL),
    ("echo 'unterminated", Action.HOLD, Kind.UNKNOWN),
    ("$CMD --force", Action.HOLD, Kind.UNKNOWN),
    ('bash -c "$SCRIPT"', Action.HOLD, Kind.UNKNOWN),
    (
        functools.reduce(lambda inner, _: f"sh -c {shlex.quote(inner)}", range(12), "ls"),
        Action.HOLD,
        Kind.UNKNOWN,
    ),
]


@pytest.mark.parametrize(("text", "action", "kind"), CASES)
def test_default_rules(text: str, action: Action, kind: Kind) -> None:
    """Each command line gets the default set's action, for the kind that decides it."""
    classification = classify_shell(text)
    verdict = judge(classification)
    assert verdict.action is action, verdict
    assert kind in classification.kinds, classification


def test_connection_rules_allow_a_program_and_hold_another() -> None:
    """Per-connection rules use the SQL guardrails' vocabulary: function = program name."""
    rules = rules_from_config(
        "default",
        [
            {"name": "make-ok", "action": "allow", "kind": "procedural", "function": "make"},
            {"name": "no-cat-secrets", "action": "hold", "regex": r"cat\s+/etc/shadow"},
        ],
    )
    guardrails = SHELL.guardrails(rules)
    assert guardrails.evaluate("make test", ShellState()).action is Action.ALLOW
    held = guardrails.evaluate("cat /etc/shadow", ShellState())
    assert (held.action, held.rule) == (Action.HOLD, "no-cat-secrets")
    assert guardrails.evaluate("sudo make install", ShellState()).action is Action.HOLD


def test_wrappers_name_every_program() -> None:
    """A statement lists the wrapper and the programs it runs, for rules and for the card."""
    statement = classify_shell("sudo -u app env X=1 nohup rm -f x").statements[0]
    assert statement.functions == ("sudo", "env", "nohup", "rm")
    assert statement.command == "rm"


def test_redaction_hides_secrets_on_the_command_line() -> None:
    """Passwords and tokens on a command line never reach the review or the audit trail."""
    shown = redact_shell(
        "PGPASSWORD=hunter2 psql; mysql -uroot -psecret; curl -u bob:pw https://a:b@h/ --token=abc"
    ).text
    for secret in ("hunter2", "secret", "pw ", ":b@", "abc"):
        assert secret not in shown
    assert redact_shell("ls -la").text == "ls -la"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_classified_without_raising(text: str) -> None:
    """Whatever the text, classification returns (failing closed), never raises."""
    verdict = SHELL.guardrails([]).evaluate(text, ShellState())
    assert verdict.action in set(Action)


def test_texts_that_crashed_the_parser_are_classified() -> None:
    """Characters outside ASCII (which crashed tree-sitter-bash's scanner) reach it as letters:
    the text is read, offsets and words kept as the client wrote them."""
    for text in ("\U00036a62\x19{\U000cc460]-\U000da2baÖ", "{\U000895ed\U0010d04b"):
        assert judge(classify_shell(text)).action is Action.HOLD
    statement = classify_shell("cat 'résumé.txt' | grep ünï").statements[0]
    assert statement.text == "cat 'résumé.txt'"
    assert judge(classify_shell("rmé -rf /")).action is Action.HOLD  # not rm: unknown program
