"""Identity links, as the operator (`SYSTEM`) manages them: `identity link`, `list` and
`unlink`. Each prints the link's wire shape with `--json`, else a table or one line."""

from __future__ import annotations

from typing import Annotated

import typer

from tenantry.bootstrap import Tenantry
from tenantry.cli.access import AsJson, UserRef
from tenantry.cli.command import commands, operator_tenantry, out, print_json, run, show_list
from tenantry.domain.principal import SYSTEM
from tenantry.http.wire import Page as PageOut
from tenantry.identities import service as identities
from tenantry.identities.ports import IdentityLink
from tenantry.identities.schemas import IdentityLinkOut

identity_app = commands("Links from the subjects of trusted external issuers to users.")

IssuerOpt = Annotated[
    str,
    typer.Option("--issuer", help="The issuer's exact `iss`, as TENANTRY_TRUSTED_ISSUERS has it."),
]
SubjectOpt = Annotated[str, typer.Option("--subject", help="The `sub` the issuer gives the user.")]
LINKS_PER_READ = 200


@identity_app.command("link")
def identity_link(
    issuer: IssuerOpt, subject: SubjectOpt, user: UserRef, as_json: AsJson = False
) -> None:
    """Link a trusted issuer's subject to a user: its tokens are then that user's at
    POST /v1/authorize."""
    with operator_tenantry(as_json) as tenantry:
        link = run(
            tenantry,
            lambda uow: identities.link_identity(
                uow,
                tenantry.deps,
                SYSTEM,
                tenantry.issuers,
                issuer=issuer,
                subject=subject,
                user_ref=user,
            ),
        )
    _show(link, as_json=as_json, said=f"linked {link.subject} of {link.issuer} to {link.user_id}")


@identity_app.command("list")
def identity_list(
    user: Annotated[
        str | None, typer.Option("--user", help="Only this user's: an email, or an id (usr_…).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The identity links, by issuer, then subject."""
    with operator_tenantry(as_json) as tenantry:
        found = _every_link(tenantry, user)
    listing = PageOut[IdentityLinkOut](items=[IdentityLinkOut.of(link) for link in found])
    show_list(
        listing,
        as_json=as_json,
        columns=("issuer", "subject", "user id", "method", "linked"),
        rows=[
            (i.issuer, i.subject, i.user_id, i.method, i.created_at.isoformat(timespec="seconds"))
            for i in listing.items
        ],
    )


@identity_app.command("unlink")
def identity_unlink(issuer: IssuerOpt, subject: SubjectOpt, as_json: AsJson = False) -> None:
    """Remove a link. A later token of the subject that carries a user's verified email links
    it again, unless the issuer's `link_verified_email` is false."""
    with operator_tenantry(as_json) as tenantry:
        link = run(
            tenantry,
            lambda uow: identities.unlink_identity(
                uow, tenantry.deps, SYSTEM, issuer=issuer, subject=subject
            ),
        )
    _show(
        link, as_json=as_json, said=f"unlinked {link.subject} of {link.issuer} from {link.user_id}"
    )


def _every_link(tenantry: Tenantry, user: str | None) -> list[IdentityLink]:
    """Every link (of `user`), one use case a read, each read after the last link shown."""

    def links_after(after: tuple[str, str] | None) -> list[IdentityLink]:
        return run(
            tenantry,
            lambda uow: identities.list_identity_links(
                uow, tenantry.deps, SYSTEM, user_ref=user, after=after, limit=LINKS_PER_READ
            ),
        )

    found = read = links_after(None)
    while len(read) == LINKS_PER_READ:
        read = links_after((found[-1].issuer, found[-1].subject))
        found = [*found, *read]
    return found


def _show(link: IdentityLink, *, as_json: bool, said: str) -> None:
    if as_json:
        print_json(IdentityLinkOut.of(link).model_dump(mode="json"))
    else:
        out.print(said, markup=False, soft_wrap=True)
