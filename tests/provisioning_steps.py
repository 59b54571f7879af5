"""Provisioning steps that a `tenantry worker` process loads by name
(`TENANTRY_PROVISIONING_STEPS=["tests.provisioning_steps:hangs_once"]`), for the tests that run
the worker as a real process. They keep their record in the folder `STEP_FOLDER` names, which
the test reads."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tenantry.domain.model import Organisation
from tenantry.domain.organisations import revise
from tenantry.unit_of_work import UnitOfWork

STEP_FOLDER = "TENANTRY_TEST_STEP_FOLDER"
HANG_SECONDS = 120.0  # far longer than the test waits: the worker is killed meanwhile


class HangsOnceStep:
    """Writes `{"plan": "trial"}` into the settings; its first attempt for an organisation
    hangs (as a step stuck on a provider would) after leaving `{org_id}.started` behind."""

    name = "hangs_once"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def run(self, uow: UnitOfWork, org: Organisation) -> None:
        with (self.folder / f"{org.id}.attempts").open("a") as attempts:
            attempts.write(f"{os.getpid()}\n")
        started = self.folder / f"{org.id}.started"
        if not started.exists():
            started.write_text(str(os.getpid()))
            time.sleep(HANG_SECONDS)
        settings = {**org.settings, "plan": "trial"}
        uow.organisations.update(revise(org, settings=settings), expected_version=org.version)

    def compensate(self, uow: UnitOfWork, org: Organisation) -> None:
        settings = {k: v for k, v in org.settings.items() if k != "plan"}
        uow.organisations.update(revise(org, settings=settings), expected_version=org.version)

    def attempts(self, org_id: str) -> list[int]:
        """The process id of each attempt at the organisation, in order."""
        path = self.folder / f"{org_id}.attempts"
        return [int(line) for line in path.read_text().split()] if path.exists() else []


def hangs_once() -> HangsOnceStep:
    return HangsOnceStep(Path(os.environ[STEP_FOLDER]))
