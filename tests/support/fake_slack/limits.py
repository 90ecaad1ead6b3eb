"""The Block Kit validator the fake Slack enforces: ``validate_blocks(payload) -> list[str]``.

Each message names where the problem is and which limit it breaks. The limits are written out
here independently of the renderers' (bot/cards) so that the two check each other. Lengths are
counted in UTF-16 code units, the stricter reading of Slack's "characters".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["validate_blocks"]

_TEXT_TYPES = {"plain_text", "mrkdwn"}
_MESSAGE_BLOCKS = {"header", "section", "context", "actions", "divider", "image", "rich_text"}
_VIEW_BLOCKS = _MESSAGE_BLOCKS | {"input"}


def _len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class _Check:
    """Collects limit violations, each naming where it is and which limit it breaks."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, problem: str) -> None:
        self.errors.append(f"{path}: {problem}")

    def length(self, path: str, value: object, limit: int, what: str) -> None:
        if not isinstance(value, str):
            self.fail(path, f"{what} must be a string")
        elif _len(value) > limit:
            self.fail(path, f"{what} is {_len(value):,} characters, over the limit of {limit:,}")

    def count(self, path: str, value: object, limit: int, what: str, minimum: int = 0) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"{what} must be a list")
            return []
        if not minimum <= len(value) <= limit:
            self.fail(path, f"{len(value)} {what}, allowed {minimum} to {limit}")
        return value

    def text(self, path: str, obj: object, limit: int, what: str, plain: bool = False) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in _TEXT_TYPES:
            self.fail(path, f"{what} must be a text object")
            return
        if plain and obj["type"] != "plain_text":
            self.fail(path, f"{what} must be plain_text")
        value = obj.get("text")
        self.length(f"{path}.text", value, limit, what)
        if isinstance(value, str) and not value.strip():
            self.fail(f"{path}.text", f"{what} must not be empty")


def _confirm(check: _Check, path: str, confirm: object) -> None:
    if not isinstance(confirm, dict):
        check.fail(path, "confirm must be an object")
        return
    check.text(f"{path}.title", confirm.get("title"), 100, "confirm title", plain=True)
    check.text(f"{path}.text", confirm.get("text"), 300, "confirm text")
    check.text(f"{path}.confirm", confirm.get("confirm"), 30, "confirm button text", plain=True)
    check.text(f"{path}.deny", confirm.get("deny"), 30, "confirm deny text", plain=True)
    if confirm.get("style", "primary") not in ("primary", "danger"):
        check.fail(path, "confirm style must be primary or danger")


def _element(check: _Check, path: str, element: object, action_ids: set[str]) -> None:
    if not isinstance(element, dict):
        check.fail(path, "element must be an object")
        return
    action_id = element.get("action_id")
    if action_id is not None:
        check.length(f"{path}.action_id", action_id, 255, "action_id")
        if action_id in action_ids:
            check.fail(f"{path}.action_id", f"action_id {action_id!r} is not unique")
        action_ids.add(str(action_id))
    kind = element.get("type")
    if kind == "button":
        check.text(f"{path}.text", element.get("text"), 75, "button text", plain=True)
        if "value" in element:
            check.length(f"{path}.value", element["value"], 2000, "button value")
        if "url" in element:
            check.length(f"{path}.url", element["url"], 3000, "button url")
        if element.get("style", "primary") not in ("primary", "danger"):
            check.fail(f"{path}.style", "button style must be primary or danger")
        if "confirm" in element:
            _confirm(check, f"{path}.confirm", element["confirm"])
    elif kind == "plain_text_input":
        for key in ("min_length", "max_length"):
            if key in element and not 0 <= int(element[key]) <= 3000:
                check.fail(f"{path}.{key}", f"{key} must be 0 to 3,000")
        if "placeholder" in element:
            check.text(f"{path}.placeholder", element["placeholder"], 150, "placeholder", True)
    else:
        check.fail(f"{path}.type", f"unsupported element type {kind!r}")


def _block(check: _Check, path: str, block: dict[str, Any], action_ids: set[str]) -> None:
    kind = block["type"]
    if kind == "header":
        check.text(f"{path}.text", block.get("text"), 150, "header text", plain=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            check.fail(path, "a section needs text or fields")
        if "text" in block:
            check.text(f"{path}.text", block["text"], 3000, "section text")
        fields = check.count(f"{path}.fields", block.get("fields", []), 10, "section fields")
        for index, field in enumerate(fields):
            check.text(f"{path}.fields[{index}]", field, 2000, "section field")
    elif kind == "context":
        elements = check.count(f"{path}.elements", block.get("elements"), 10, "context elements", 1)
        for index, element in enumerate(elements):
            if not (isinstance(element, dict) and element.get("type") == "image"):
                check.text(f"{path}.elements[{index}]", element, 3000, "context text")
    elif kind == "actions":
        elements = check.count(f"{path}.elements", block.get("elements"), 5, "action elements", 1)
        for index, element in enumerate(elements):
            _element(check, f"{path}.elements[{index}]", element, action_ids)
    elif kind == "input":
        check.text(f"{path}.label", block.get("label"), 2000, "input label", plain=True)
        if "hint" in block:
            check.text(f"{path}.hint", block["hint"], 2000, "input hint", plain=True)
        _element(check, f"{path}.element", block.get("element"), action_ids)


def _blocks(check: _Check, blocks: object, limit: int, kinds: set[str]) -> None:
    action_ids: set[str] = set()
    block_ids: set[str] = set()
    for index, block in enumerate(check.count("blocks", blocks, limit, "blocks")):
        path = f"blocks[{index}]"
        if not isinstance(block, dict) or block.get("type") not in kinds:
            kind = block.get("type") if isinstance(block, dict) else None
            check.fail(path, f"unsupported block type {kind!r}")
            continue
        if "block_id" in block:
            check.length(f"{path}.block_id", block["block_id"], 255, "block_id")
            if block["block_id"] in block_ids:
                check.fail(f"{path}.block_id", f"block_id {block['block_id']!r} is not unique")
            block_ids.add(str(block["block_id"]))
        _block(check, path, block, action_ids)


def _view(check: _Check, view: object) -> None:
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        check.fail("view", "a view must be an object of type modal or home")
        return
    if view["type"] == "modal":
        check.text("view.title", view.get("title"), 24, "modal title", plain=True)
    for key in ("submit", "close"):
        if key in view:
            check.text(f"view.{key}", view[key], 24, f"modal {key} text", plain=True)
    for key, limit in (("callback_id", 255), ("external_id", 255), ("private_metadata", 3000)):
        if key in view:
            check.length(f"view.{key}", view[key], limit, key)
    blocks = view.get("blocks")
    _blocks(check, blocks, 100, _VIEW_BLOCKS)
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if has_input and "submit" not in view:
        check.fail("view.submit", "a modal with input blocks needs a submit button")


def validate_blocks(payload: Mapping[str, Any]) -> list[str]:
    """Every Block Kit limit that ``payload`` breaks, as readable messages (empty: accepted).

    ``payload`` is a message (chat.postMessage / chat.update / chat.postEphemeral arguments with
    ``text`` and/or ``blocks``), views.open arguments (``{"view": ...}``) or a bare view.
    """
    check = _Check()
    if payload.get("type") in ("modal", "home"):
        _view(check, dict(payload))
    elif "view" in payload:
        _view(check, payload["view"])
    else:
        if "text" not in payload and "blocks" not in payload:
            check.fail("text", "a message needs text or blocks (no_text)")
        if "text" in payload:
            check.length("text", payload["text"], 40_000, "message text")
        if "blocks" in payload:
            _blocks(check, payload["blocks"], 50, _MESSAGE_BLOCKS)
    return check.errors
