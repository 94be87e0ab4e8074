"""Slack- and Teams-like receivers: the one test receiver (``receiver.py``) with what the real
services check and how fast they take messages; they record every request like any receiver.

``slack_problems`` and ``teams_problems`` are the validators the receivers use; tests call them
directly too, so a message the formatters build is held to the same rules with or without HTTP.
Lengths are counted in UTF-16 code units, the stricter reading of "characters".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from tests.support.receiver import Answer, Receiver

CARD_ELEMENTS: Final = frozenset(
    {
        "TextBlock", "RichTextBlock", "FactSet", "ColumnSet", "Container", "Image", "ImageSet",
        "ActionSet", "Media", "Input.Text", "Input.Number", "Input.Date", "Input.Time",
        "Input.Toggle", "Input.ChoiceSet",
    }
)  # fmt: skip
CARD_ACTIONS: Final = frozenset(
    {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility",
     "Action.Execute"}
)  # fmt: skip
CARD_TYPE: Final = "application/vnd.microsoft.card.adaptive"
TEAMS_MAX_BYTES: Final = 28 * 1024


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _http(url: object) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://"))


def _text_object(obj: object, where: str, limit: int, kinds: tuple[str, ...]) -> list[str]:
    if not isinstance(obj, Mapping) or obj.get("type") not in kinds:
        return [f"{where}: not a {'/'.join(kinds)} text object"]
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= _length(text) <= limit:
        return [f"{where}: text must have 1..{limit} characters"]
    return []


_TEXT: Final = ("mrkdwn", "plain_text")
Block = Mapping[str, Any]


def _texts(items: object, where: str, count: range, limit: int) -> list[str]:
    """A list of ``count`` text objects of at most ``limit`` characters each."""
    if not isinstance(items, list) or len(items) not in count:
        return [f"{where}: {count.start}..{count.stop - 1} items needed"]
    return [
        p for i, item in enumerate(items) for p in _text_object(item, f"{where}[{i}]", limit, _TEXT)
    ]


def _header(block: Block, where: str) -> list[str]:
    return _text_object(block.get("text"), f"{where}.text", 150, ("plain_text",))


def _section(block: Block, where: str) -> list[str]:
    if "text" not in block and "fields" not in block:
        return [f"{where}: a section needs text or fields"]
    problems = []
    if "text" in block:
        problems += _text_object(block["text"], f"{where}.text", 3000, _TEXT)
    if "fields" in block:
        problems += _texts(block["fields"], f"{where}.fields", range(1, 11), 2000)
    return problems


def _context(block: Block, where: str) -> list[str]:
    return _texts(block.get("elements"), f"{where}.elements", range(1, 11), 3000)


def _actions(block: Block, where: str) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
        return [f"{where}.elements: 1..25 needed"]
    problems = []
    for i, button in enumerate(elements):
        if not isinstance(button, Mapping) or button.get("type") != "button":
            problems.append(f"{where}.elements[{i}]: only buttons are checked here")
            continue
        problems += _text_object(button.get("text"), f"{where}.elements[{i}]", 75, ("plain_text",))
        if "url" in button and not (_http(button["url"]) and len(button["url"]) <= 3000):
            problems.append(f"{where}.elements[{i}].url: not an http(s) URL")
    return problems


_SLACK_CHECKS: Final[Mapping[str, Callable[[Block, str], list[str]]]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "divider": lambda block, where: [],
}


def _slack_block(block: object, where: str) -> list[str]:
    if not isinstance(block, Mapping) or block.get("type") not in _SLACK_CHECKS:
        return [f"{where}: unknown block type"]
    return _SLACK_CHECKS[block["type"]](block, where)


def slack_problems(payload: object) -> list[str]:
    """Why Slack would refuse ``payload`` (empty when it would take it)."""
    if not isinstance(payload, Mapping):
        return ["not a JSON object"]
    problems = []
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("no_text: text is missing or empty")
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return [*problems, "blocks: at most 50"]
    for i, block in enumerate(blocks):
        problems += _slack_block(block, f"blocks[{i}]")
    return problems


def _card_action(action: object, where: str) -> list[str]:
    if not isinstance(action, Mapping) or action.get("type") not in CARD_ACTIONS:
        return [f"{where}: unknown action"]
    if action["type"] == "Action.OpenUrl" and not _http(action.get("url")):
        return [f"{where}.url: not an http(s) URL"]
    return []


def _rich_text(element: Block, where: str) -> list[str]:
    problems = []
    for i, run in enumerate(element.get("inlines") or [None]):
        if isinstance(run, str):
            continue
        if not isinstance(run, Mapping) or run.get("type") != "TextRun":
            problems.append(f"{where}.inlines[{i}]: not a TextRun")
        elif not isinstance(run.get("text"), str):
            problems.append(f"{where}.inlines[{i}].text: required")
        elif "selectAction" in run:
            problems += _card_action(run["selectAction"], f"{where}.inlines[{i}].selectAction")
    return problems


def _fact_set(element: Block, where: str) -> list[str]:
    return [
        f"{where}.facts[{i}]: title and value must be strings"
        for i, fact in enumerate(element.get("facts") or [None])
        if not (
            isinstance(fact, Mapping)
            and all(isinstance(fact.get(k), str) for k in ("title", "value"))
        )
    ]


def _column_set(element: Block, where: str) -> list[str]:
    return [
        problem
        for i, column in enumerate(element.get("columns") or [])
        for problem in _card_body(
            column.get("items", []) if isinstance(column, Mapping) else None,
            f"{where}.columns[{i}].items",
        )
    ]


def _action_set(element: Block, where: str) -> list[str]:
    return [
        problem
        for i, action in enumerate(element.get("actions") or [None])
        for problem in _card_action(action, f"{where}.actions[{i}]")
    ]


def _text_block(element: Block, where: str) -> list[str]:
    return [] if isinstance(element.get("text"), str) else [f"{where}.text: required"]


_CARD_CHECKS: Final[Mapping[str, Callable[[Block, str], list[str]]]] = {
    "TextBlock": _text_block,
    "RichTextBlock": _rich_text,
    "FactSet": _fact_set,
    "Container": lambda element, where: _card_body(element.get("items"), f"{where}.items"),
    "ColumnSet": _column_set,
    "ActionSet": _action_set,
}


def _card_element(element: object, where: str) -> list[str]:
    if not isinstance(element, Mapping) or element.get("type") not in CARD_ELEMENTS:
        kind = element.get("type") if isinstance(element, Mapping) else None
        return [f"{where}: unknown element {kind!r} for version 1.4"]
    problems = []
    if "selectAction" in element:
        problems += _card_action(element["selectAction"], f"{where}.selectAction")
    check = _CARD_CHECKS.get(element["type"])
    return problems + (check(element, where) if check is not None else [])


def _card_body(body: object, where: str) -> list[str]:
    if not isinstance(body, list):
        return [f"{where}: must be a list"]
    return [p for i, element in enumerate(body) for p in _card_element(element, f"{where}[{i}]")]


def _version(value: object) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


def teams_problems(payload: object, size: int | None = None) -> list[str]:
    """Why a Workflows webhook would refuse ``payload`` (``size``: its bytes, when known)."""
    if size is None:
        size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    if size > TEAMS_MAX_BYTES:
        return [f"message is {size} bytes, over {TEAMS_MAX_BYTES}"]
    if not isinstance(payload, Mapping) or payload.get("type") != "message":
        return ['type must be "message"']
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["exactly one attachment is needed"]
    attachment = attachments[0]
    if not isinstance(attachment, Mapping) or attachment.get("contentType") != CARD_TYPE:
        return [f"attachments[0].contentType must be {CARD_TYPE}"]
    card = attachment.get("content")
    if not isinstance(card, Mapping) or card.get("type") != "AdaptiveCard":
        return ['content.type must be "AdaptiveCard"']
    version = _version(card.get("version"))
    if version is None or version > (1, 4):
        return [f"AdaptiveCard version {card.get('version')!r} is not supported (at most 1.4)"]
    problems = _card_body(card.get("body"), "body")
    for i, action in enumerate(card.get("actions", [])):
        problems += _card_action(action, f"actions[{i}]")
    return problems


class SlackReceiver(Receiver):
    """An incoming webhook: 1 message/s (429 ``rate_limited``, ``Retry-After: 1``), Block Kit
    checked, ``200 ok``. ``answer_with(404, "channel_not_found")`` and the like play Slack's
    permanent errors (Slack also answers some, e.g. ``no_service``, with a 200)."""

    per_second = 1
    throttled = Answer(429, "rate_limited", {"Retry-After": "1"})

    def judge(self, payload: Any, size: int) -> Answer:
        problems = slack_problems(payload)
        if not problems:
            return Answer(200, "ok")
        return Answer(400, "no_text" if problems[0].startswith("no_text") else "invalid_payload")


class TeamsReceiver(Receiver):
    """A Workflows webhook: 4 messages/s (then 429), the card's version (at most 1.4), shape and
    size checked; ``202`` with an empty body, or ``400`` with a JSON error."""

    per_second = 4
    throttled = Answer(
        429,
        json.dumps({"error": {"code": "429", "message": "Rate limit is exceeded. Retry in 1 s."}}),
        {"Retry-After": "1"},
    )

    def judge(self, payload: Any, size: int) -> Answer:
        problems = teams_problems(payload, size)
        if not problems:
            return Answer(202)
        error = {"code": "InvalidRequestContent", "message": "; ".join(problems)}
        return Answer(400, json.dumps({"error": error}))
