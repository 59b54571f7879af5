"""Register an organisation, then provision it: two transactions, one call for every edge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from tenantry.context import ServiceDeps
from tenantry.domain.model import Organisation
from tenantry.domain.organisations import provisioning_job_id
from tenantry.domain.principal import Principal
from tenantry.organisations import service as organisations
from tenantry.organisations.provisioning import retry_provisioning
from tenantry.unit_of_work import UnitOfWork

T = TypeVar("T")


class UseCaseRunner(Protocol):
    """An edge's way to run one use case in one unit of work (`tenantry.runner.Runner`)."""

    @property
    def caller(self) -> Principal: ...
    @property
    def deps(self) -> ServiceDeps: ...
    def __call__(self, use_case: Callable[[UnitOfWork], T]) -> T: ...


class ProvisioningEngine(Protocol):
    def provision(self, org_id: str, actor: Principal) -> Organisation | None:
        """Provision the organisation, or start it provisioning elsewhere (then None)."""

    def close(self) -> None:
        """Let go of any connection the engine holds."""


class JobStarter(Protocol):
    def start(self, job_id: str) -> Organisation | None: ...


def register_and_provision(
    run: UseCaseRunner,
    jobs: JobStarter,
    *,
    name: str,
    slug: str,
    owner_id: str | None = None,
) -> Organisation:
    """The caller (or `owner_id`, for an operator) becomes OWNER. The registration commits
    with the job that provisions the organisation, and the job starts at once: the result is
    the organisation as provisioning left it (ACTIVE, or FAILED with the step), or as
    registered (PROVISIONING) if another process took the job first."""
    org = run(
        lambda uow: organisations.register_organisation(
            uow, run.deps, run.caller, owner_id=owner_id or run.caller.user_id, name=name, slug=slug
        )
    )
    return jobs.start(provisioning_job_id(org)) or org


def retry_and_provision(run: UseCaseRunner, jobs: JobStarter, org_id: str) -> Organisation:
    org = run(lambda uow: retry_provisioning(uow, run.deps, run.caller, org_id))
    return jobs.start(provisioning_job_id(org)) or org
