"""Platform adapters: each turns its platform's events into `Inbound`, renders `Reply`, and sends.

Every adapter offers the same small surface, so `backcoach run` can start whichever are configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.engine import Engine
    from scheduler.sender import Sender


class PlatformAdapter(Protocol):
    platform: str

    @property
    def sender(self) -> Sender:
        """Sends proactive messages (reminders, timers) from the outbox."""
        ...

    async def start(self) -> None:
        """Begin receiving events (polling, Socket Mode, or webhook registration). Returns once running."""
        ...

    async def stop(self) -> None:
        """Stop receiving; in-flight events finish."""
        ...


def configured_adapters(settings: Settings, engine: Engine) -> list[PlatformAdapter]:
    """The adapters whose environment variables are set. Imports lazily: an unused SDK is never loaded."""
    adapters: list[PlatformAdapter] = []
    if settings.telegram_bot_token:
        from adapters.telegram import build_telegram

        adapters.append(build_telegram(settings, engine))
    if settings.slack_bot_token or settings.slack_signing_secret:
        from adapters.slack import build_slack

        adapters.append(build_slack(settings, engine))
    return adapters
