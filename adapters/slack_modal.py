"""The settings modal (views.open -> view_submission): Block Kit in, one neutral form out. Pure functions.

The core owns the meaning (bot/flows/settings.py: form_errors, apply_form); this module only lays the
fields out in Block Kit and reads them back from `view.state.values`.
"""

from __future__ import annotations

from typing import Any

from content.loader import Content

CALLBACK_ID = "bc-settings"
ACTION = "value"  # every input's element has this action_id; the block_id is the form field's name


def _text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150], "emoji": True}


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _text(label), "value": value}


def _time_input(field: str, label: str, value: str, hint: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "timepicker", "action_id": ACTION}
    if value:
        element["initial_time"] = value
    block: dict[str, Any] = {
        "type": "input",
        "block_id": field,
        "optional": True,
        "label": _text(label),
        "element": element,
    }
    if hint:
        block["hint"] = _text(hint)
    return block


def _checkboxes(field: str, label: str, options: list[tuple[str, str]], chosen: set[str]) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "checkboxes", "action_id": ACTION, "options": [_option(*o) for o in options]}
    initial = [_option(*o) for o in options if o[1] in chosen]
    if initial:
        element["initial_options"] = initial
    return {"type": "input", "block_id": field, "optional": True, "label": _text(label), "element": element}


def settings_modal(values: dict[str, str], content: Content, metadata: str = "") -> dict[str, Any]:
    """The modal for views.open, filled in with the person's settings (bot/flows/settings.form_values)."""
    m = content.msg
    days = [(name.strip(), str(i)) for i, name in enumerate(m("summary_week.day_names").split(","))]
    exercises = [(e.name, e.id) for e in content.program.exercises]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": metadata,
        "title": _text(m("slack.modal.title")[:24]),
        "submit": _text(m("slack.modal.save")),
        "close": _text(m("slack.modal.cancel")),
        "blocks": [
            _time_input("time", m("slack.modal.time"), values.get("time", ""), m("slack.modal.time_hint")),
            _checkboxes("days", m("slack.modal.days"), days, set(values.get("days", "").split(","))),
            _time_input("quiet_start", m("slack.modal.quiet_start"), values.get("quiet_start", "")),
            _time_input(
                "quiet_end", m("slack.modal.quiet_end"), values.get("quiet_end", ""), m("slack.modal.quiet_hint")
            ),
            _checkboxes(
                "exercises", m("slack.modal.exercises"), exercises, set(values.get("exercises", "").split(","))
            ),
        ],
    }


def form_of(view: dict[str, Any]) -> dict[str, str]:
    """A view_submission's `view` as the neutral form: every field a string, "" when left empty."""
    state = (view.get("state") or {}).get("values") or {}
    form: dict[str, str] = {}
    for field in ("time", "quiet_start", "quiet_end"):
        form[field] = str(((state.get(field) or {}).get(ACTION) or {}).get("selected_time") or "")
    for field in ("days", "exercises"):
        chosen = ((state.get(field) or {}).get(ACTION) or {}).get("selected_options") or []
        form[field] = ",".join(str(o.get("value", "")) for o in chosen)
    return form
