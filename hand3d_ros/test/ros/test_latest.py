"""The newest-frame slot: newer items replace older ones, which are counted as dropped."""
import threading
import time

from hand3d_ros.ros.latest import LatestSlot


def test_newest_wins_and_drops_are_counted():
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.take(timeout=0.1) == 4
    assert (slot.received, slot.dropped) == (5, 4)
    assert slot.take(timeout=0.01) is None


def test_a_slow_consumer_never_builds_a_queue():
    slot, taken = LatestSlot(), []

    def consumer():
        while True:
            item = slot.take(timeout=1.0)
            if item is None:
                return
            taken.append(item)
            time.sleep(0.02)  # a slow model

    thread = threading.Thread(target=consumer)
    thread.start()
    for i in range(200):
        slot.put(i)
        time.sleep(0.001)
    time.sleep(0.1)
    slot.close()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert taken[-1] == 199  # the last frame is processed, not a stale one
    assert len(taken) < 60 and slot.dropped == 200 - len(taken)


def test_close_wakes_a_waiting_take():
    slot = LatestSlot()
    result = []
    thread = threading.Thread(target=lambda: result.append(slot.take(timeout=10)))
    thread.start()
    time.sleep(0.05)
    start = time.monotonic()
    slot.close()
    thread.join(timeout=2)
    assert result == [None] and time.monotonic() - start < 1.0
