"""One conversation per session: chat-message JSON lines (`openai`) and Markdown transcripts.

Rows arrive ordered by session then position (`rows.stream`); a session is
written as soon as its last row is read, so one session at a time is in memory.
Members without content (erased, deleted, redacted) are left out of the
messages and shown as such in transcripts: their text is not in the view.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from projections.transcript import COLUMNS, Row

Progress = Callable[[int], None]
_INDEX = {name: i for i, name in enumerate(COLUMNS)}


def _get(row: Row, name: str) -> Any:
    return row[_INDEX[name]]


def sessions(chunks: Iterable[list[Row]], progress: Progress) -> Iterator[list[Row]]:
    """The rows of one session at a time."""
    current: list[Row] = []
    for chunk in chunks:
        for row in chunk:
            if current and _get(row, "session_id") != _get(current[0], "session_id"):
                yield current
                current = []
            current.append(row)
        progress(len(chunk))
    if current:
        yield current


def _name(value: str) -> str:
    """A `name` as chat APIs accept it: letters, digits, _ and -, at most 64."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", value)
    return cleaned[:64] or "user"


def chat_messages(rows: list[Row]) -> list[dict[str, Any]]:
    """A session as chat messages; a tool call is kept with its result, or both are left out."""
    messages: list[dict[str, Any]] = []
    for row in rows:
        content = _get(row, "text")
        kind = _get(row, "kind")
        if content is None:
            continue
        if kind == "tool":
            call_id = f"call_{_get(row, 'position')}"
            arguments = _get(row, "tool_arguments")
            messages.append({"role": "assistant", "content": None, "tool_calls": [{
                "id": call_id, "type": "function", "function": {
                    "name": _get(row, "tool_name") or "tool",
                    "arguments": _arguments(arguments)}}]})
            messages.append({"role": "tool", "tool_call_id": call_id, "content": content})
        elif kind == "user":
            message = {"role": "user", "content": content}
            who = _get(row, "sender_name") or _get(row, "sender")
            if who:
                message["name"] = _name(str(who))
            messages.append(message)
        else:
            messages.append({"role": "assistant", "content": content})
    return messages


def _arguments(value: str | None) -> str:
    """Function arguments as the JSON text chat APIs carry (a JSON string is unwrapped)."""
    if value is None:
        return "{}"
    decoded = json.loads(value)
    return decoded if isinstance(decoded, str) else value


def write_openai(chunks: Iterable[list[Row]], handle: IO[str], progress: Progress) -> int:
    """Each session as one line {"messages": [...]}, in session id order; sessions written."""
    count = 0
    for rows in sessions(chunks, progress):
        messages = chat_messages(rows)
        if messages:
            handle.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            count += 1
    return count


def _inline(value: Any) -> str:
    """Text from the log made inert in Markdown: no HTML, no link or emphasis syntax."""
    text = str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]#|!])", r"\\\1", text)


def transcript(rows: list[Row]) -> str:
    """One session as a readable Markdown transcript."""
    first = rows[0]
    lines = [f"# {_inline(_get(first, 'key'))}", "",
             f"- session: `{_get(first, 'session_id')}` (projection "
             f"{_inline(_get(first, 'projection'))}, epoch {_get(first, 'epoch')})",
             f"- {len(rows)} messages, {sum(int(_get(r, 'tokens')) for r in rows):,} tokens", ""]
    for row in rows:
        at = _get(row, "occurred_at").strftime("%Y-%m-%d %H:%M:%S")
        kind, content, state = _get(row, "kind"), _get(row, "text"), _get(row, "state")
        who = ("agent" if kind == "assistant"
               else f"tool {_get(row, 'tool_name') or ''}".strip() if kind == "tool"
               else _get(row, "sender_name") or _get(row, "sender") or "someone")
        place = f"#{_get(row, 'chat')}" + (f"/{_get(row, 'topic')}" if _get(row, "topic") else "")
        lines.append(f"**{_inline(who)}** · {_inline(place)} · {at}"
                     + (f" · {state}" if state not in ("original",) else ""))
        lines.append("")
        if content is None:
            lines.append(f"*({state}: content not exported)*")
        else:
            lines.extend("> " + _inline(part) if part else ">" for part in content.split("\n"))
        lines.append("")
    return "\n".join(lines)


def _file_name(rows: list[Row]) -> str:
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", str(_get(rows[0], "key")))[:80].strip("._")
    return f"{key or 'session'}-{_get(rows[0], 'session_id')}.md"


def write_markdown(chunks: Iterable[list[Row]], directory: Path, progress: Progress) -> int:
    """One transcript file per session in `directory`; sessions written."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for rows in sessions(chunks, progress):
        (directory / _file_name(rows)).write_text(transcript(rows), encoding="utf-8")
        count += 1
    return count
