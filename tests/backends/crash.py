"""Stand-ins for a process that dies between a provider's create and the runner's
commit, shared by the adoption tests of backends whose jobs carry no tags."""

from __future__ import annotations

from batchport.backends.base import Checkpoint


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


class Forgetful:
    """A checkpoint that never records ``lost``: the create's answer never came."""

    def __init__(self, inner: Checkpoint, lost: str) -> None:
        self.inner = inner
        self.lost = lost

    def get(self, key: str) -> str | None:
        return self.inner.get(key)

    def set(self, key: str, value: str | None) -> None:
        if key != self.lost:
            self.inner.set(key, value)
