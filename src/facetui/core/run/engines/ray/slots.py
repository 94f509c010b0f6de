"""The slots of one kind of Ray actor (the CPU actors of engine.py, the GPU actors of gpu.py): each actor
started, marked up once it answers, replaced when it dies (at most MAX_REPLACED in a run, then its slot is given
up), and a watchdog: when no actor is up REFILL_WAIT_S after a replacement (or a start, where the owner arms it),
or no slot is left at all, the photos waiting are reported, and so is every later one until an actor is up again
(transient errors: a rerun analyses them).
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from dataclasses import dataclass

from ....models.analyze import Analysis

MAX_REPLACED = 16  # dead actors replaced in one run, per kind; past that a dead actor's slot stays empty
# how long the photos wait when no actor is up and none of the replacements can start (every node lost, or a
# cluster with no room)
REFILL_WAIT_S = 60.0


@dataclass
class Slot:
    """One actor's place: its actor (None once given up), and whether it is up (photos only ever go to an actor
    that is: a replacement the cluster has no room for never holds one)."""

    actor: object | None
    up: bool = False


class ActorSlots:
    """Mixin for the owner of the slots, which has ``_lock``, ``_closing`` and ``_slots`` and defines
    ``_new_actor()``, ``_ready_ref(actor)`` (a call that answers once the actor has started), ``_drain()`` (under
    the lock: the (sha, Future) of every photo waiting, taken off its queue) and ``_pump()``. ``_starved`` is the
    error later photos get at once ("" while an actor may take them)."""

    none_up = "no worker could be started on the cluster"  # the owner's words for its photos
    none_left = "no worker left on the cluster"
    _replaced = 0
    _starved = ""

    def _came_up(self, slot: Slot, answer: object) -> None:
        """Under the lock: ``slot``'s actor has started and answered ``answer``."""

    def _watch_up(self, slot: Slot) -> None:
        """Mark ``slot`` up once its actor has started, then give it work (a replacement where it died starting)."""
        actor = slot.actor
        if actor is None:
            return

        def up(rf: cf.Future) -> None:
            with self._lock:
                if slot.actor is not actor or self._closing:
                    return
                ok = not rf.cancelled() and rf.exception() is None
                if ok:
                    slot.up, self._starved = True, ""
                    self._came_up(slot, rf.result())
            if not ok:
                self._replace(slot, actor)
            self._pump()

        self._ready_ref(actor).future().add_done_callback(up)

    def _replace(self, slot: Slot, dead: object) -> None:
        """A new actor in ``slot`` for ``dead`` (once: a second report of the same death does nothing)."""
        with self._lock:
            if self._closing or slot.actor is not dead:
                return
            slot.up = False
            if self._replaced < MAX_REPLACED:
                self._replaced += 1
                slot.actor = self._new_actor()
            else:
                slot.actor = None
            left = any(p.actor is not None for p in self._slots)
        if slot.actor is not None:
            self._watch_up(slot)  # photos go to the actors that are up meanwhile (a lost node's may never be)
            self._arm_watchdog()
        elif not left:
            self._give_up(self.none_left)

    def _arm_watchdog(self) -> None:
        timer = threading.Timer(REFILL_WAIT_S, self._check_up)
        timer.daemon = True
        timer.start()

    def _check_up(self) -> None:
        with self._lock:
            if self._closing or any(p.up for p in self._slots):
                return
        self._give_up(self.none_up)

    def _give_up(self, error: str) -> None:
        """No actor to be had: the photos waiting are reported, and so is every later one until one is up."""
        with self._lock:
            self._starved = error
            waiting = self._drain()
        for sha, f in waiting:
            if not f.done():
                f.set_result(Analysis(sha256=sha, transient=True, error=error))
