"""OpenAI `stop` strings over streamed text: the answer ends right before the
first stop string, and text that might be the start of one is held back until
the next token decides, so a stop string never leaks out half-sent."""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self._pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text that is final now, whether a stop string was reached)."""
        pending = self._pending + text
        hits = [i for i in (pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            self._pending = ""
            return pending[:min(hits)], True
        hold = self._held(pending)
        self._pending = pending[len(pending) - hold:]
        return pending[:len(pending) - hold], False

    def flush(self) -> str:
        """What was held back, once the text has ended."""
        out, self._pending = self._pending, ""
        return out

    def _held(self, text: str) -> int:
        """Length of the longest tail of `text` that begins some stop string."""
        longest = max((len(s) for s in self.stops), default=1)
        for k in range(min(len(text), longest - 1), 0, -1):
            if any(s.startswith(text[-k:]) for s in self.stops):
                return k
        return 0
