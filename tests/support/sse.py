"""A ``text/event-stream`` client over a raw streaming HTTP response, parsed as the HTML
spec's EventSource does (§9.2.6 "Interpreting an event stream"), so the tests see
exactly what a browser would: nothing here trusts the server's framing."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """One dispatched event: ``id`` is the last event ID string when it was dispatched."""

    id: str
    type: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class Parser:
    """Feed it decoded text in any chunks; it returns the events each chunk completes."""

    def __init__(self) -> None:
        self._buffer = ""
        self._skip_lf = False  # a chunk ended in CR: a LF starting the next one is its pair
        self._started = False
        self._data: list[str] = []
        self._type = ""
        self._id_buffer = ""
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments: list[str] = []

    def feed(self, text: str) -> list[Event]:
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text:
            text = text.removeprefix("\n")
            self._skip_lf = False
        self._buffer += text
        out: list[Event] = []
        while match := _EOL.search(self._buffer):
            line = self._buffer[: match.start()]
            if match.group() == "\r" and match.end() == len(self._buffer):
                self._skip_lf = True
            self._buffer = self._buffer[match.end() :]
            event = self._line(line)
            if event is not None:
                out.append(event)
        return out

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None  # other fields are ignored

    def _dispatch(self) -> Event | None:
        self.last_event_id = self._id_buffer
        if not self._data:
            self._type = ""
            return None
        event = Event(self.last_event_id, self._type or "message", "\n".join(self._data))
        self._data, self._type = [], ""
        return event


class Stream:
    """An open event stream: iterate `events()`; ``response`` is the HTTP response."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response
        self.parser = Parser()

    async def events(self) -> AsyncIterator[Event]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # the spec's decoding
        async for chunk in self.response.aiter_raw():
            for event in self.parser.feed(decoder.decode(chunk)):
                yield event


@asynccontextmanager
async def open_stream(
    http: httpx2.AsyncClient,
    url: str,
    *,
    params: dict[str, str] | None = None,
    last_event_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Stream]:
    """``GET url`` as an EventSource would; fails unless it is a 200 event stream.
    Leaving the block closes the connection (a disconnect, mid-stream)."""
    sent = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **(headers or {})}
    if last_event_id is not None:
        sent["Last-Event-ID"] = last_event_id
    async with http.stream("GET", url, params=params, headers=sent) as response:
        if response.status_code != 200:
            await response.aread()
            raise AssertionError(f"GET {url}: {response.status_code} {response.text}")
        kind = response.headers.get("content-type", "")
        assert kind.split(";")[0].strip() == "text/event-stream", kind
        yield Stream(response)
