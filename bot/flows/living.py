"""Living messages: which replies are new messages, which edit the live question, which close it.

Pure, like every flow. The person has at most one live question: the one message whose buttons still work.
A tap on it edits that same message into what comes next (the chosen answer shown); anything else that
moves the question on (a typed answer, a timer, another command) closes it (buttons gone, choice shown)
and the replies are new messages. Safety advice is always a new message of its own, never folded or edited.
Adapters render the kinds natively; `compose` turns consecutive plain replies into one message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.flows.common import Outcome, normalise
from bot.state import Conversation
from bot.types import Inbound, InboundKind, Reply, ReplyKind

MESSAGE_KINDS = (ReplyKind.NEW, ReplyKind.EDIT)


@dataclass(frozen=True)
class Before:
    """The live question as it was when the event arrived (flows change the conversation in place)."""

    seq: int
    asked: str
    options: dict[str, str]
    choices: dict[str, str]

    @staticmethod
    def of(conv: Conversation) -> Before:
        return Before(conv.seq, conv.asked, dict(conv.options), dict(conv.choices))


def tap_token(action: str) -> tuple[str, str]:
    """A stamped payload "12:done" / "g12:g.today" -> ("12", "done") / ("g12", "g.today")."""
    token, _, rest = action.partition(":")
    return token, rest


def _seq_of(token: str) -> int | None:
    digits = token.removeprefix("g")
    return int(digits) if digits.isdigit() else None


def _plain(reply: Reply) -> bool:
    return not (reply.urgent or reply.image or reply.document or reply.meta.get("render"))


def compose(replies: list[Reply]) -> list[Reply]:
    """Consecutive plain replies of one kind and target become one message (a question ends one): a session
    step's "well done" and the next step arrive as one message, not two. Urgent replies stay on their own."""
    return [reply for reply, _ in compose_indexed(replies)]


def compose_indexed(replies: list[Reply], order: list[int] | None = None) -> list[tuple[Reply, list[int]]]:
    """`compose`, each message with the indexes (into `replies`) of the replies it carries, so a sender can
    say which replies the platform accepted. `order`: the indexes in sending order (default: as given)."""
    out: list[tuple[Reply, list[int]]] = []
    for i in order if order is not None else range(len(replies)):
        reply = replies[i]
        last = out[-1][0] if out else None
        if (
            last is not None
            and reply.kind in MESSAGE_KINDS
            and last.kind is reply.kind
            and last.target == reply.target
            and _plain(last)
            and _plain(reply)
            and not last.buttons
            and not last.ask_location
        ):
            text = "\n\n".join(t for t in (last.text, reply.text) if t)
            merged = replace(reply, text=text, chosen=last.chosen or reply.chosen, meta={**last.meta, **reply.meta})
            out[-1] = (merged, [*out[-1][1], i])
            continue
        out.append((reply, [i]))
    return out


def _chosen(before: Before, event: Inbound) -> str:
    """The label of the answer given: the tapped button's, or the button a typed answer matched."""
    if event.kind is InboundKind.BUTTON:
        return before.options.get(tap_token(event.action)[1], "")
    if event.kind is InboundKind.TEXT:
        action = before.choices.get(normalise(event.text))
        return before.options.get(action, "") if action else ""
    return ""


def shape(before: Before, event: Inbound, out: Outcome) -> None:
    """Give every reply its kind, close what has moved on, and remember the new live question."""
    replies = out.replies
    conv = out.view.conversation
    token = tap_token(event.action)[0] if event.kind is InboundKind.BUTTON else ""
    live = bool(before.asked)
    on_live = live and event.kind is InboundKind.BUTTON and _seq_of(token) == before.seq
    messages = [i for i, r in enumerate(replies) if r.kind in MESSAGE_KINDS]
    asking = [i for i in messages if replies[i].buttons]
    q = asking[-1] if asking else None
    moved = live and (on_live or q is not None or any(r.urgent for r in replies))
    chosen = _chosen(before, event)
    closes: list[Reply] = []
    if event.kind is InboundKind.BUTTON and event.source and not on_live:
        closes.append(Reply("", kind=ReplyKind.CLOSE, target=event.source))  # a stale keyboard: remove it
    if on_live:
        upto = [i for i in messages if q is None or i <= q]
        foldable = upto and not any(r.urgent for r in replies) and all(_plain(replies[i]) for i in upto)
        if foldable:
            for n, i in enumerate(upto):
                replies[i] = replace(
                    replies[i], kind=ReplyKind.EDIT, target=event.source, chosen=chosen if not n else ""
                )
        else:
            closes.append(Reply(before.asked, kind=ReplyKind.CLOSE, chosen=chosen, target=event.source))
    elif moved:
        closes.append(Reply(before.asked, kind=ReplyKind.CLOSE, chosen=chosen))
    out.replies = replies + closes  # after the messages: safety advice is never behind an edit
    if q is not None:
        shown = [r for r in compose([r for r in out.replies if r.kind in MESSAGE_KINDS]) if r.buttons]
        conv.asked = shown[-1].text if shown else replies[q].text
        conv.options = {tap_token(b.action)[1]: b.label for b in replies[q].buttons}
    elif moved:
        conv.asked, conv.options = "", {}
