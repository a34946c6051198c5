"""`backcoach serve` scaled out: two real serve processes (subprocesses on 127.0.0.1) share one throw-away
PostgreSQL database. Telegram webhook updates and signed Slack requests for the same people go to both
processes alternately; the platforms are adapters/testing/fake_telegram.py and fake_slack.py in this
process. Every conversation must end onboarded, every step answered once, and a delivery sent to both processes
at the same moment must be answered by exactly one of them."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.testing.fake_slack import Call as SlackCall
from adapters.testing.fake_slack import FakeSlack
from adapters.testing.fake_telegram import TOKEN, Call, FakeTelegram, Person, onboard, text_update
from adapters.testing.slack_client import SECRET as SLACK_SECRET
from adapters.testing.slack_client import Response, SlackSide
from bot.bench.serve import SECRET as WEBHOOK_SECRET
from bot.bench.serve import ServeProcess, free_port, serve_env, telegram_env
from bot.storage.db import make_engine
from bot.storage.models import ProcessedEvent, User
from content.loader import Content
from tests.conftest import PG_URL, _drop_pg_database, _fresh_pg_database

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs BACKCOACH_TEST_POSTGRES_URL (CI sets it)")

_update_ids = itertools.count(1)


Settle = Callable[[str], Awaitable[None]]


async def settled(url: str, patience: float = 60.0) -> None:
    """Until the shared database has no event waiting to be processed and no message due unsent (read from
    /metrics): then everything the processes had to say about the requests so far has reached the fakes.
    Slack's events are acked before the work, and an event whose processing met a database error is
    finished in the background, so this is how a test knows a step's replies are all in."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            status, text = await get(f"{url}/metrics")
        except aiohttp.ClientError:
            status, text = 0, ""
        if (
            status == 200
            and metric(text, "backcoach_database_up") == 1
            and metric(text, "backcoach_inbox_pending") == 0
            and metric(text, "backcoach_outbox_due") == 0
        ):
            return
        backlog = [x for x in text.splitlines() if x.startswith(("backcoach_inbox", "backcoach_outbox_due"))]
        assert asyncio.get_running_loop().time() < deadline, f"never settled: {backlog}"
        await asyncio.sleep(0.02)


async def post_update(url: str, update: dict[str, Any]) -> int:
    """What Telegram does: POST the update with the secret-token header; the status says delivered or not."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/telegram", data=json.dumps(update), headers=headers) as resp,
    ):
        return resp.status


class WebhookPerson(Person):
    """A Telegram user whose updates reach the bot by webhook, alternating between processes. A 5xx is
    redelivered, as Telegram does, up to `retries` times."""

    def __init__(
        self,
        fake: FakeTelegram,
        user_id: int,
        urls: list[str],
        first: int = 0,
        retries: int = 0,
        settle: Settle = settled,
    ) -> None:
        super().__init__(fake, None, user_id)
        self.urls, self.turn, self.retries, self.settle = urls, first, retries, settle
        self.deliveries = 0
        self.failures = 0
        self.steps: list[list[Call]] = []

    def mine(self, since: int) -> list[Call]:
        return [c for c in self.fake.requests(since) if str(c.params.get("chat_id")) == str(self.user_id)]

    async def send(self, update: dict[str, Any]) -> list[Call]:
        update.setdefault("update_id", next(_update_ids))
        mark = len(self.fake.calls)
        for _attempt in range(self.retries + 1):
            url = self.urls[self.turn % len(self.urls)]
            self.turn += 1
            self.deliveries += 1
            status = await post_update(url, update)
            if status == 200:
                break
            assert status >= 500, status  # only a server error may be retried
            self.failures += 1
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"update {update['update_id']} never accepted")
        await self.settle(self.urls[0])
        self.last = self.mine(mark)
        self.steps.append(self.sent())
        return self.last


class _Remote:
    """SlackSide waits on an adapter's drain(); here the processes' work is waited for through /metrics."""

    def __init__(self, url: str, settle: Settle = settled) -> None:
        self.url, self.settle = url, settle

    async def drain(self) -> None:
        await self.settle(self.url)


class RoutedSide(SlackSide):
    """Slack's side, sending each request to the next process in turn; a 5xx is retried with the same body
    and `X-Slack-Retry-Num`, as Slack does (up to `retries` times)."""

    def __init__(self, fake: FakeSlack, urls: list[str], first: int, retries: int, settle: Settle = settled) -> None:
        super().__init__("", _Remote(urls[0], settle), fake)  # type: ignore[arg-type]
        self.urls, self.turn, self.retries = urls, first, retries
        self.deliveries = self.failures = 0

    async def post(self, body: str, content_type: str, **kwargs: Any) -> Response:
        mark = len(self.fake.calls)
        for attempt in range(self.retries + 1):
            self.url = f"{self.urls[self.turn % len(self.urls)]}/slack/events"
            self.turn += 1
            self.deliveries += 1
            if attempt:
                kwargs["headers"] = {**kwargs.get("headers", {}), "X-Slack-Retry-Num": str(attempt)}
            answer = await super().post(body, content_type, **kwargs)
            if answer.status < 500:
                break
            self.failures += 1
            await asyncio.sleep(0.05)
        self.mark = mark
        return answer


class SlackPerson:
    """A Slack user in workspace T1, each request signed and sent to the next process in turn."""

    def __init__(
        self, fake: FakeSlack, user: str, urls: list[str], first: int = 0, retries: int = 0, settle: Settle = settled
    ) -> None:
        self.side = RoutedSide(fake, urls, first, retries, settle)
        self.fake, self.user = fake, user
        self.channel = f"D{user}"
        self.steps: list[list[SlackCall]] = []

    @property
    def deliveries(self) -> int:
        return self.side.deliveries

    def _record(self) -> None:
        self.steps.append(self.side.messages(channel=self.channel))

    async def dm(self, text: str) -> None:
        assert (await self.side.dm("T1", self.user, text)).status == 200
        self._record()

    async def tap(self, label: str) -> None:
        assert (await self.side.tap("T1", self.user, label)).status == 200
        self._record()

    def texts(self) -> str:
        return "\n".join(c.args.get("text", "") for c in self.steps[-1])

    def labels(self) -> list[str]:
        return [
            e["text"]["text"]
            for c in self.steps[-1]
            for b in c.args.get("blocks", [])
            if b.get("type") == "actions"
            for e in b["elements"]
        ]


async def onboard_slack(person: SlackPerson, *, hint_may_be_lost: bool = False) -> bool:
    """`hint_may_be_lost`: the database may fail every try to keep Slack's time zone on the first event (it is
    then processed without it, and the zone question lists zones: answered with one, never with a "Yes" left
    on an earlier state of the edited message). Returns whether the hint was offered."""
    await person.dm("hello")
    await person.tap("I understand")
    while "Yes" in person.labels():
        await person.tap("No")
    await person.tap("All of them")
    await person.tap("07:00")
    hinted = "Yes" in person.labels()
    if hinted:
        await person.tap("Yes")  # Slack's own time zone for this person, offered as the hint
    else:
        assert hint_may_be_lost and "Which time zone" in person.texts(), person.texts()
        await person.tap("London")
    assert "all set" in person.texts().lower(), person.texts()
    return hinted


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    name, url = await _fresh_pg_database()
    yield url
    await _drop_pg_database(name)


def both_platforms(port: int, db_url: str, fake_tg: FakeTelegram, fake_slack: FakeSlack) -> dict[str, str]:
    return serve_env(
        port,
        db_url,
        BACKCOACH_TICK_SECONDS="1",
        SLACK_BOT_TOKEN="xoxb-one",
        SLACK_SIGNING_SECRET=SLACK_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        **telegram_env(fake_tg.url, TOKEN, port),
    )


@pytest.fixture
async def two_processes(
    pg_url: str, fake_tg: FakeTelegram, fake_slack: FakeSlack, tmp_path: Path
) -> AsyncIterator[list[ServeProcess]]:
    procs = []
    for _ in range(2):
        port = free_port()
        procs.append(ServeProcess(both_platforms(port, pg_url, fake_tg, fake_slack), tmp_path))
    for p in procs:
        await p.start()
    try:
        for p in procs:
            await p.wait_ready()
        yield procs
    finally:
        for p in procs:
            await p.stop()


def metric(exposition: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_two_serve_processes_share_one_postgres(
    two_processes: list[ServeProcess],
    fake_tg: FakeTelegram,
    fake_slack: FakeSlack,
    pg_url: str,
    content: Content,
) -> None:
    urls = [p.url for p in two_processes]
    tg_people = [WebhookPerson(fake_tg, 7001 + i, urls, first=i) for i in range(3)]
    slack_people = [SlackPerson(fake_slack, f"U{i}", urls, first=i) for i in range(3)]
    await asyncio.gather(*(onboard(p, content) for p in tg_people), *(onboard_slack(p) for p in slack_people))

    # every step was answered, and no reply text repeats within a step (nothing sent twice)
    for tg in tg_people:
        for step in tg.steps:
            texts = [c.params.get("text") for c in step]
            assert texts and len(texts) == len(set(texts)), texts
        assert sum("all set" in str(c.params.get("text", "")).lower() for s in tg.steps for c in s) == 1
    for sl in slack_people:
        for step in sl.steps:
            texts = [c.args.get("text") for c in step]
            assert texts and len(texts) == len(set(texts)), texts
        assert sum("all set" in str(c.args.get("text", "")).lower() for s in sl.steps for c in s) == 1

    # one delivery reaching both processes at the same moment is answered exactly once
    ann = tg_people[0]
    await ann.say("/help")
    once = len(ann.sent())
    mark = len(fake_tg.calls)
    twice = text_update(ann.user_id, "/help") | {"update_id": next(_update_ids)}
    statuses = await asyncio.gather(*(post_update(u, twice) for u in urls))
    assert statuses == [200, 200]
    assert len([c for c in ann.mine(mark) if c.method == "sendMessage"]) == once > 0

    bob = slack_people[0]
    await bob.dm("help")
    once = len(bob.steps[-1])
    mark = len(fake_slack.calls)
    body = SlackSide.event_body(
        "T1",
        {
            "type": "message",
            "channel_type": "im",
            "channel": bob.channel,
            "user": bob.user,
            "text": "help",
            "ts": "1.000001",
        },
    )
    sides = [SlackSide(f"{u}/slack/events", _Remote(u), fake_slack) for u in urls]  # type: ignore[arg-type]
    answers = await asyncio.gather(
        sides[0].post(body, "application/json"),
        sides[1].post(body, "application/json", headers={"X-Slack-Retry-Num": "1"}),
    )
    assert [a.status for a in answers] == [200, 200]
    posted = [c for c in fake_slack.calls[mark:] if c.method == "chat.postMessage" and c.args["channel"] == bob.channel]
    assert len(posted) == once > 0

    # the database agrees: everyone onboarded, one processed event per distinct delivery
    db = make_engine(pg_url)
    try:
        async with db.connect() as conn:
            rows = (
                await conn.execute(
                    select(User.platform, User.platform_user_id, User.reminders_on, User.reminder_time, User.timezone)
                )
            ).all()
            events = dict(
                (
                    await conn.execute(select(ProcessedEvent.platform, func.count()).group_by(ProcessedEvent.platform))
                ).all()
            )
    finally:
        await db.dispose()
    assert sorted((r.platform, r.platform_user_id) for r in rows) == sorted(
        [("telegram", str(p.user_id)) for p in tg_people] + [("slack", p.user) for p in slack_people]
    )
    assert all(r.reminders_on and r.reminder_time == "07:00" for r in rows)
    assert {r.timezone for r in rows} == {"Europe/London"}
    assert events["telegram"] == sum(len(p.steps) for p in tg_people) + 1  # +1: the /help sent to both
    assert events["slack"] == sum(len(p.steps) for p in slack_people) + 1  # +1: the "help" sent to both

    # both processes did real work, and both are healthy
    handled = []
    for url in urls:
        status, text = await get(f"{url}/metrics")
        assert status == 200
        handled.append(metric(text, "backcoach_events_handled_total"))
        assert (await get(f"{url}/healthz"))[0] == 200
    assert all(h > 0 for h in handled), handled
    deliveries = sum(p.deliveries for p in tg_people) + sum(p.deliveries for p in slack_people)
    assert sum(handled) == deliveries + 1 + 1  # + the doubled deliveries, each counted once (the inbox drops one)
