"""The aiohttp transport under python-telegram-bot (adapters/telegram_http.py): uploads arrive whole, and a
failure says what kind it was without the request URL, which carries the bot token."""

from __future__ import annotations

import socket

import pytest
from telegram import Bot
from telegram.error import NetworkError

from adapters.telegram_http import AiohttpRequest
from adapters.testing.fake_telegram import TOKEN, FakeTelegram


async def test_a_document_upload_reaches_the_api_whole(fake_tg: FakeTelegram) -> None:
    data = bytes(range(256)) * 40  # every byte value, so no encoding step can pass it unnoticed
    bot = Bot(TOKEN, base_url=f"{fake_tg.url}/bot", request=AiohttpRequest())
    async with bot:
        sent = await bot.send_document(4242, data, filename="record.pdf", caption="<b>yours</b>", parse_mode="HTML")
    call = fake_tg.calls[-1]
    assert call.method == "sendDocument"
    assert call.files["document"] == ("record.pdf", data)
    assert call.params["caption"] == "<b>yours</b>"
    assert call.params["chat_id"] == "4242"
    assert sent.document is not None


async def test_form_fields_round_trip_including_json_ones(fake_tg: FakeTelegram) -> None:
    bot = Bot(TOKEN, base_url=f"{fake_tg.url}/bot", request=AiohttpRequest())
    async with bot:
        await bot.send_message(4242, "a & b = c?", reply_markup=None)
    call = fake_tg.calls[-1]
    assert (call.method, call.params["text"], call.params["chat_id"]) == ("sendMessage", "a & b = c?", "4242")


async def test_a_refused_connection_is_a_network_error_without_the_token() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    request = AiohttpRequest(connect_timeout=2.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()
    assert TOKEN not in str(raised.value) and TOKEN.split(":")[-1] not in repr(raised.value)
    assert "aiohttp" in str(raised.value)
