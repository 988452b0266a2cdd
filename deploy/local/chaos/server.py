"""What the chaos test knows about nats-server versions: the one place for it.

Baton supports nats-server from Debian's 2.9.10 (the oldest tested) to the current release. The
checks hold every server to the same standard, except for known server defects, which are
named here as capabilities of the version and only reported (a warning, never a failure) on
the versions that have them. On any other version the same observation fails the run.
"""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass(frozen=True, order=True)
class ServerVersion:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> "ServerVersion":
        """From `nats-server --version` ("nats-server: v2.15.1") or /varz "version" ("2.15.1")."""
        found = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
        if not found:
            raise ValueError(f"not a nats-server version: {text!r}")
        return cls(*map(int, found.groups()))

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    @property
    def is_2_9(self) -> bool:
        return (self.major, self.minor) == (2, 9)

    @property
    def has_workqueue_leftover_defect(self) -> bool:
        """A work-queue stream replica restarted after SIGKILL keeps messages its leader already
        deleted (acknowledged jobs): same last sequence, more messages, and the leader reports
        it current. Nothing is lost and the jobs are not redelivered. 2.9.x; fixed in 2.10."""
        return self.is_2_9

    @property
    def has_catchup_defect(self) -> bool:
        """A restarted replica holds every message its leader has and the leader reports it
        current, but its sequence numbers stay out of step (it kept writes it took as leader that
        were never committed). 2.9.x; fixed in 2.10 (nats-server#5054, #5362). Baton reads
        records defensively (a stale or missing record is read again)."""
        return self.is_2_9


def oldest(versions: list[str]) -> ServerVersion:
    """The oldest of the versions the nodes report (a mixed cluster has the oldest one's defects)."""
    return min(ServerVersion.parse(v) for v in versions)
