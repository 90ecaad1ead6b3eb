"""The parse-tree half of :mod:`gateway.postgres.dialect.redact`: ``Find`` walks a statement's
JSON parse tree (libpg_query) and collects the byte offsets of the literals in secret positions
(and the numbers of the ``$n`` parameters there). See that module for the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.postgres.dialect.redact_text import PLACEHOLDER, is_secret_name, quote, redact_value

__all__ = ["CONNINFO_ARGS", "PUBLIC_MAPPING_OPTIONS", "WHOLE_ARGS", "Find"]

# pgcrypto (docs F.26): the arguments that are keys or passwords, by position.
WHOLE_ARGS: dict[str, tuple[int, ...]] = {
    "pgp_sym_encrypt": (1,),
    "pgp_sym_encrypt_bytea": (1,),
    "pgp_sym_decrypt": (1,),
    "pgp_sym_decrypt_bytea": (1,),
    "pgp_pub_decrypt": (1, 2),
    "pgp_pub_decrypt_bytea": (1, 2),
    "encrypt": (1,),
    "decrypt": (1,),
    "encrypt_iv": (1,),
    "decrypt_iv": (1,),
    "crypt": (0, 1),  # the password, and the stored hash it is compared with
    "hmac": (1,),
}
# dblink (docs F.11): connection arguments (a name or a conninfo string). A constant keeps
# what is not a password (redact_value); an expression building one goes whole.
CONNINFO_ARGS: dict[str, tuple[int, ...]] = {
    "dblink_connect": (0, 1),
    "dblink_connect_u": (0, 1),
    "dblink": (0,),
    "dblink_exec": (0,),
}
PUBLIC_MAPPING_OPTIONS = frozenset({"user", "username", "user_name", "password_required"})
_NOT_SECRET_ARGS = frozenset({"sql", "data", "msg", "type", "iv", "options", "fail_on_error"})
_BARE = frozenset({"String", "Integer", "Float", "Boolean", "List", "BitString"})
_NAMES = frozenset({"typeName", "funcname", "names", "fields"})  # names, not values


class Find:
    """Walks a JSON parse tree, collecting the byte offsets of secret literals."""

    __slots__ = ("blind", "depth", "marks", "opaque", "params")

    def __init__(self, depth: int, opaque: Callable[[str, int], str]) -> None:
        self.depth, self.opaque = depth, opaque
        self.marks: dict[int, str] = {}  # literal's byte offset -> what replaces it
        self.params: set[int] = set()
        self.blind = False  # a secret whose literal the tree does not locate: redact them all

    def mark(self, location: int, replacement: str = PLACEHOLDER) -> None:
        if location < 0:
            self.blind = True
        elif self.marks.get(location) != PLACEHOLDER:
            self.marks[location] = replacement

    def visit(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self.visit(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                handler = HANDLERS.get(key)
                if handler is None:
                    self.visit(value)
                else:
                    handler(self, value)

    def secret(self, node: Any, location: int = -1) -> None:
        """A subtree in a secret position: every constant and bound value in it goes. A
        DefElem's bare argument (a String, Integer, ... node: no offset of its own) is at
        ``location``, the DefElem's ``arg_location``."""
        if isinstance(node, dict) and len(node) == 1 and next(iter(node)) in _BARE:
            self.mark(location)
            return
        self._constants(node)

    def _constants(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self._constants(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "A_Const":
                    if not value.get("isnull"):
                        self.mark(value.get("location", -1))
                elif key == "ParamRef":
                    self.params.add(value.get("number", 0))
                elif key not in _NAMES:
                    self._constants(value)

    def value(self, value: str | None, location: int) -> None:
        """A literal anywhere: the secrets recognisable in its value go."""
        if value:
            cleaned = redact_value(value)
            if cleaned != value:
                self.mark(location, quote(cleaned))

    def body(self, fields: dict[str, Any]) -> None:
        """A DO block's or a function's body: opaque text (see redact_opaque)."""
        value, location = _bare_string(fields.get("arg")), fields.get("arg_location", -1)
        if value is None or location < 0:
            self.visit(fields.get("arg"))
            return
        cleaned = self.opaque(value, self.depth + 1)
        if cleaned != value:
            tag = "$body$" if "$body$" not in cleaned else ""
            self.mark(location, f"{tag}{cleaned}{tag}" if tag else quote(cleaned))


def _a_const(find: Find, fields: dict[str, Any]) -> None:
    find.value(fields.get("sval", {}).get("sval"), fields.get("location", -1))


def _def_elem(find: Find, fields: dict[str, Any], *, mapping: bool = False) -> None:
    name = fields.get("defname", "")
    location = fields.get("arg_location", -1)
    value = _bare_string(fields.get("arg"))
    if _conninfo(name, value):
        find.value(value, location)
        return
    if is_secret_name(name) or (mapping and name.lower() not in PUBLIC_MAPPING_OPTIONS):
        find.secret(fields.get("arg"), location)
        return
    find.value(value, location)
    find.visit(fields.get("arg"))


def _user_mapping(find: Find, fields: dict[str, Any]) -> None:
    for option in fields.get("options", []):
        if "DefElem" in option:
            _def_elem(find, option["DefElem"], mapping=True)


def _with_body(find: Find, fields: dict[str, Any]) -> None:
    """DoStmt (``args``) and CreateFunctionStmt (``options``): the ``as`` element is a body."""
    for key, value in fields.items():
        if key not in ("args", "options"):
            find.visit(value)
            continue
        for item in value:
            element = item.get("DefElem") if isinstance(item, dict) else None
            if element is not None and element.get("defname") == "as":
                find.body(element)
            else:
                find.visit(item)


def _subscription(find: Find, fields: dict[str, Any]) -> None:
    find.value(fields.get("conninfo"), fields.get("conninfo_location", -1))
    find.visit(fields.get("options"))


def _variable_set(find: Find, fields: dict[str, Any]) -> None:
    name, args = fields.get("name", ""), fields.get("args", [])
    if len(args) == 1 and _conninfo(name, _const_string(args[0])):
        find.visit(args)  # its password part goes (A_Const: redact_value)
    elif is_secret_name(name):
        find.secret(args)
    else:
        find.visit(fields.get("args"))


def _func_call(find: Find, fields: dict[str, Any]) -> None:
    names = [n["String"]["sval"] for n in fields.get("funcname", []) if "String" in n]
    name = names[-1].lower() if names else ""
    args: list[Any] = fields.get("args", [])
    whole, conninfo = WHOLE_ARGS.get(name, ()), CONNINFO_ARGS.get(name, ())
    if name == "set_config" and args:
        setting = _const_string(args[0])
        if setting is None or is_secret_name(setting):
            whole = (1,)
    for index, arg in enumerate(args):
        named = arg.get("NamedArgExpr") if isinstance(arg, dict) else None
        if named is not None:
            label = str(named.get("name", "")).lower()
            keyed = (whole or conninfo) and label not in _NOT_SECRET_ARGS
            if keyed or is_secret_name(label):
                find.secret(named.get("arg"))
                continue
        built = _const_string(arg) is None and not (isinstance(arg, dict) and "ParamRef" in arg)
        if index in whole or (index in conninfo and built):
            find.secret(arg)
        else:
            find.visit(arg)
    find.visit({k: v for k, v in fields.items() if k not in ("args", "funcname")})


def _res_target(find: Find, fields: dict[str, Any]) -> None:
    if is_secret_name(fields.get("name", "")):
        find.secret(fields.get("val"))
        find.visit(fields.get("indirection"))
    else:
        find.visit(fields)


def _a_expr(find: Find, fields: dict[str, Any]) -> None:
    left, right = fields.get("lexpr"), fields.get("rexpr")
    if _secret_column(left):
        find.secret(right)
    if _secret_column(right):
        find.secret(left)
    find.visit(left)
    find.visit(right)


def _insert(find: Find, fields: dict[str, Any]) -> None:
    columns = [c.get("ResTarget", {}).get("name", "") for c in fields.get("cols", [])]
    secret = [i for i, name in enumerate(columns) if is_secret_name(name)]
    if secret:
        select = fields.get("selectStmt", {}).get("SelectStmt", {})
        for row in select.get("valuesLists", []):
            items = row.get("List", {}).get("items", [])
            for index in secret:
                if index < len(items):
                    find.secret(items[index])
    find.visit({k: v for k, v in fields.items() if k != "cols"})


HANDLERS = {
    "A_Const": _a_const,
    "DefElem": _def_elem,
    "CreateUserMappingStmt": _user_mapping,
    "AlterUserMappingStmt": _user_mapping,
    "DoStmt": _with_body,
    "CreateFunctionStmt": _with_body,
    "CreateSubscriptionStmt": _subscription,
    "AlterSubscriptionStmt": _subscription,
    "VariableSetStmt": _variable_set,
    "setstmt": _variable_set,  # ALTER SYSTEM / ROLE / DATABASE ... SET: the fields, unwrapped
    "FuncCall": _func_call,
    "ResTarget": _res_target,
    "A_Expr": _a_expr,
    "InsertStmt": _insert,
}


def _conninfo(name: str, value: str | None) -> bool:
    """A setting or option named ``...conninfo`` holding a connection string (key=value or a
    URI): only its password part is secret, the rest tells the approver where it points."""
    if value is None or "conninfo" not in name.lower():
        return False
    return "=" in value or "://" in value


def _bare_string(node: Any) -> str | None:
    """The string of a DefElem's bare argument (the first, for a list), or None."""
    if not isinstance(node, dict):
        return None
    if "List" in node:
        items = node["List"].get("items", [])
        return _bare_string(items[0]) if items else None
    value = node.get("String", {}).get("sval")
    return value if isinstance(value, str) else None


def _const_string(node: Any) -> str | None:
    """The value of a string constant (cast or not), or None for anything else."""
    if isinstance(node, dict) and "TypeCast" in node:
        return _const_string(node["TypeCast"].get("arg"))
    if isinstance(node, dict) and "A_Const" in node:
        value = node["A_Const"].get("sval", {}).get("sval")
        return value if isinstance(value, str) else None
    return None


def _secret_column(node: Any) -> bool:
    if not isinstance(node, dict) or "ColumnRef" not in node:
        return False
    fields = node["ColumnRef"].get("fields", [])
    last = fields[-1].get("String", {}).get("sval", "") if fields else ""
    return isinstance(last, str) and is_secret_name(last)
