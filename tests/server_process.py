"""Reading a real mlx_server.py's event streams, for the server tests (the server
itself runs through mlx_entropix.server.launch.running_server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event name, decoded JSON data) per server-sent event."""
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
