"""A one-slot mailbox: the newest item wins, older ones are dropped and counted.

The node's image callback puts every frame here and returns at once; its worker thread
takes the newest frame when it is free. A slow model therefore never builds a queue or
adds latency: frames that arrive while it works are replaced, not queued. Plain Python
(no rclpy), so it is tested on its own.
"""
from __future__ import annotations

import threading
from typing import Any, Optional


class LatestSlot:
    """Thread-safe holder of the newest item."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._has_item = False
        self._closed = False
        self.received = 0
        """Items put so far."""
        self.dropped = 0
        """Items replaced before anyone took them."""

    def put(self, item: Any) -> None:
        with self._cond:
            self.received += 1
            if self._has_item:
                self.dropped += 1
            self._item, self._has_item = item, True
            self._cond.notify()

    def take(self, timeout: Optional[float] = None) -> Any:
        """The newest item, waiting up to ``timeout`` s; None on timeout or when closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout=timeout):
                return None
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            return item

    def close(self) -> None:
        """Wake every waiting ``take`` (which then returns None) for a clean shutdown."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
