"""``Dialect``: what a protocol brings to the session core so that its commands can be judged
and its replies masked.

The vocabulary (kinds, findings, rules, verdicts, the masking rules) is shared; a dialect reads
its own language into it. The composition root maps each connection ``type`` it serves to one
dialect object (``{"postgres": gateway.postgres.dialect.POSTGRES}``) and
``gateway.sessions.build_targets`` asks it for each connection's rule set and masking policy.

- ``name``: the connection type it serves (``postgres``, ``mysql``), as ``[[connections]]``
  spells it.
- ``state_type``: its frozen session state (``DialectState``), what classification reads:
  string-literal rules, name resolution, prepared statements. Constructed without arguments it
  is the state of a fresh session.
- ``classify(text, state)``: every statement of a command text, with kinds and reasons; never
  raises (what it cannot read is ``unknown``, which the rules hold: fail closed).
- ``guardrails(rules)``: a ``RuleSet`` over its classifier for a connection's parsed rules
  (``rules_from_config``); it may add look-alike cache levels its parser makes cheap.
- ``masking(rules)``: its masking policy for a connection's validated ``MaskingRules`` (how
  result columns are bound to rules and which values its types let detectors see), or None
  when the rules mask nothing.
- ``redact(text, params)``: the command as it may be shown and stored (reviews, cards, the
  audit trail, logs): every secret it carries (a password, a key, a connection string's
  password) replaced, and the bound values in secret positions too. The session still runs
  the exact bytes; a review binds to them by their hash. A text it cannot read but that may
  hold a secret is redacted conservatively. Never raises; cheap for a text that cannot hold a
  secret (the statement log calls it for every distinct text it writes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol, TypeVar

from gateway.guardrails.model import Classification
from gateway.guardrails.rules import Rule
from gateway.guardrails.ruleset import DialectState, RuleSet
from gateway.masking import MaskingRules

__all__ = ["REDACTED", "Dialect", "Redacted", "Redactor"]

REDACTED = "<redacted>"  # what stands for a secret in a shown text or a shown bound value

StateT = TypeVar("StateT", bound=DialectState)
PolicyT_co = TypeVar("PolicyT_co", covariant=True)


class Redacted(NamedTuple):
    """A command as it may be shown and stored: ``text`` with its secrets replaced, and the
    bound ``params`` to show with it (a value in a secret position is ``REDACTED``). A named
    tuple: made for every text new to a session, it costs half a frozen dataclass."""

    text: str
    params: tuple[bytes | None, ...] = ()


class Redactor(Protocol):
    """A dialect's ``redact``: what the session core calls before it shows or stores a text."""

    def __call__(self, text: str, params: Sequence[bytes | None] = ()) -> Redacted: ...


class Dialect(Protocol[StateT, PolicyT_co]):
    """A protocol's command language and result formats, as the session core uses them."""

    @property
    def name(self) -> str:
        """The connection type this dialect serves."""
        ...

    @property
    def state_type(self) -> type[StateT]:
        """The session state classification reads; ``state_type()`` is a fresh session's."""
        ...

    def classify(self, text: str, state: StateT) -> Classification:
        """Every statement of ``text`` read against ``state``; never raises."""
        ...

    def guardrails(self, rules: Sequence[Rule]) -> RuleSet[StateT]:
        """The rule set (with its verdict cache) for one connection."""
        ...

    def masking(self, rules: MaskingRules) -> PolicyT_co | None:
        """The masking policy for one connection; None when ``rules`` mask nothing."""
        ...

    def redact(self, text: str, params: Sequence[bytes | None] = ()) -> Redacted:
        """``text`` (and its bound ``params``) with every secret replaced; never raises."""
        ...
