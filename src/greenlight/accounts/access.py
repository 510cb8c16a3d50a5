"""Who may do what on which production.

:class:`Access` is a person's roles, loaded once per request; its checks are
pure functions of those roles, so the rules are tested without a database.
A refusal is a :class:`Forbidden` naming the production and the roles that
would have allowed it, so the person knows whom to ask.

Platform admins run the platform (people, productions, memberships) and are
treated as holding ``admin`` on every production, but ``admin`` never stands in
for a named approver: creative sign-off stays with showrunners and directors,
legal sign-off with legal.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from greenlight.accounts.people import get_person
from greenlight.core.clock import utcnow
from greenlight.core.enums import REVIEWERS, Role
from greenlight.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from greenlight.core.models import Membership, Person
from greenlight.store.schema import memberships, productions, vendors

# Who may ask for work on a production. Legal owns consents and escalations
# and auditors only read, so neither submits requests.
SUBMITTERS = frozenset(
    {
        Role.SHOWRUNNER,
        Role.DIRECTOR,
        Role.PRODUCER,
        Role.VFX_SUPERVISOR,
        Role.ARTIST,
        Role.LOCALIZATION_MANAGER,
        Role.MARKETING_LEAD,
        Role.VENDOR,
        Role.ADMIN,
    }
)
# Who runs a production's set-up: its shots, its people, later its talent and consents.
MANAGERS = frozenset({Role.PRODUCER, Role.ADMIN})
# Who keeps performers' rights: consents and their revocation, talent, watchlists.
RIGHTS_KEEPERS = frozenset({Role.LEGAL, Role.ADMIN})
# Who may read a revocation's blast radius (it spans every vendor's work).
RIGHTS_READERS = frozenset({Role.LEGAL, Role.ADMIN, Role.AUDITOR})
# Who records vendor attestations, audits and findings (vendors are studio-wide).
VENDOR_OVERSEERS = frozenset({Role.LEGAL, Role.ADMIN})


def _one_of(roles: Iterable[Role]) -> str:
    """``the producer role`` or ``one of the roles artist, director or producer``."""
    names = sorted(role.value for role in roles)
    if len(names) == 1:
        return f"the {names[0]} role"
    return "one of the roles " + ", ".join(names[:-1]) + " or " + names[-1]


@dataclass(frozen=True)
class Access:
    """A person and the roles they hold on each production."""

    person: Person
    roles: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    # production_id -> vendor_id, where the person works there for a vendor.
    vendor_of: Mapping[str, str] = field(default_factory=dict)

    def roles_in(self, production_id: str) -> frozenset[Role]:
        """The roles held on ``production_id``; a platform admin also holds ``admin``."""
        held = self.roles.get(production_id, frozenset())
        return held | {Role.ADMIN} if self.person.is_admin else held

    def _refuse(
        self, production_id: str, code: str, message: str, reason: str, needed: Iterable[Role]
    ) -> Forbidden:
        return Forbidden(
            message,
            code=code,
            production_id=production_id,
            needed=sorted(role.value for role in needed),
            held=sorted(role.value for role in self.roles_in(production_id)),
            reason=reason,
        )

    def can_read(self, production_id: str) -> bool:
        """Whether the person may see ``production_id`` at all (any role there)."""
        return bool(self.roles_in(production_id))

    def require_read(self, production_id: str) -> None:
        """Refuse (``access.no_role``) unless the person holds a role on ``production_id``."""
        if not self.can_read(production_id):
            raise self._no_role(production_id)

    def _no_role(self, production_id: str) -> Forbidden:
        return self._refuse(
            production_id,
            "access.no_role",
            f"You have no role on production {production_id}; "
            "ask its producer or an admin to add you.",
            "no role on the production",
            Role,
        )

    def require_submit(self, production_id: str) -> None:
        """Refuse unless the person may ask for work on ``production_id``.

        Auditors get ``access.read_only``; legal and other non-submitting roles
        ``access.cannot_submit``; no role at all ``access.no_role``.
        """
        held = self.roles_in(production_id)
        if held & SUBMITTERS:
            return
        if not held:
            raise self._no_role(production_id)
        if Role.AUDITOR in held:
            raise self._refuse(
                production_id,
                "access.read_only",
                "Auditors read everything and change nothing. Requests on production "
                f"{production_id} come from people with {_one_of(SUBMITTERS)}.",
                "auditor is a read-only role",
                SUBMITTERS,
            )
        raise self._refuse(
            production_id,
            "access.cannot_submit",
            f"With {_one_of(held)} on production {production_id} you cannot ask for work; "
            f"that needs {_one_of(SUBMITTERS)}.",
            "role may not submit requests",
            SUBMITTERS,
        )

    def approval_roles(self, production_id: str, wanted: Collection[Role]) -> frozenset[Role]:
        """Which of the ``wanted`` approver roles the person holds on ``production_id``.

        A platform admin satisfies only an explicit ``admin`` approval, never a
        creative or legal one: those must come from the named role.
        """
        return self.roles_in(production_id) & frozenset(wanted)

    def review_roles(self, production_id: str) -> frozenset[Role]:
        """The roles in which the person may review outputs on ``production_id``."""
        return self.roles_in(production_id) & REVIEWERS

    def require_admin(self) -> None:
        """Refuse (``access.admin_only``) unless the person is a platform admin."""
        if not self.person.is_admin:
            raise Forbidden(
                "Only platform admins create people and productions; ask one to do it.",
                code="access.admin_only",
                needed=[Role.ADMIN.value],
                reason="not a platform admin",
            )

    def vendor_scope(self, production_id: str) -> str | None:
        """The vendor whose work alone the person sees on ``production_id``, if so limited.

        Someone whose only role there is ``vendor`` sees just the requests for
        their vendor's tools; anyone with another role (or an admin) sees all
        (``None``). A vendor role naming no vendor is refused rather than
        widened (``access.vendor_unknown``).
        """
        if self.person.is_admin or self.roles.get(production_id) != frozenset({Role.VENDOR}):
            return None
        vendor_id = self.vendor_of.get(production_id)
        if vendor_id is None:  # fail closed: no vendor named must not mean "sees everything"
            raise self._refuse(
                production_id,
                "access.vendor_unknown",
                f"Your vendor role on production {production_id} names no vendor; "
                "ask its producer to grant it again with your vendor.",
                "vendor role without a vendor",
                {Role.VENDOR},
            )
        return vendor_id

    def require_manage(self, production_id: str) -> None:
        """Refuse (``access.cannot_manage``) unless the person is a producer or admin there."""
        held = self.roles_in(production_id)
        if held & MANAGERS:
            return
        if not held:
            raise self._no_role(production_id)
        raise self._refuse(
            production_id,
            "access.cannot_manage",
            f"Shots, people and consents on production {production_id} are managed by its "
            "producer or an admin; ask one of them.",
            "role may not manage the production",
            MANAGERS,
        )

    # --- rights: consents, talent, vendors' governance ---------------------------

    def holds_anywhere(self, roles: Collection[Role]) -> bool:
        """Whether the person holds one of ``roles`` on some production (admins: always
        ``admin``)."""
        if self.person.is_admin and Role.ADMIN in roles:
            return True
        return any(held & frozenset(roles) for held in self.roles.values())

    def _reads_only(self) -> bool:
        """Someone whose every role is auditor: they read everything and change nothing."""
        held = {role for roles in self.roles.values() for role in roles}
        return not self.person.is_admin and held == {Role.AUDITOR}

    def _refuse_anywhere(
        self, code: str, message: str, reason: str, needed: Iterable[Role]
    ) -> Forbidden:
        held = {role for roles in self.roles.values() for role in roles}
        return Forbidden(
            message,
            code=code,
            needed=sorted(role.value for role in needed),
            held=sorted(role.value for role in held),
            reason=reason,
        )

    def require_rights(self, production_id: str, *, code: str = "rights.not_allowed") -> None:
        """Refuse unless the person keeps performers' rights on ``production_id`` (legal or
        admin there): record and revoke consents, edit the watchlist.

        Auditors get ``access.read_only``, no role ``access.no_role``, others ``code``.
        """
        self._require_keeper(
            production_id,
            RIGHTS_KEEPERS,
            code,
            what="Consents and the watchlist",
            kept_by="kept by its legal team or an admin",
            reason="role may not change performers' rights",
        )

    def require_rights_reader(self, production_id: str) -> None:
        """Refuse (``rights.read_not_allowed``) unless the person is legal, admin or an
        auditor on ``production_id``: a revocation's blast radius spans every vendor's work."""
        held = self.roles_in(production_id)
        if held & RIGHTS_READERS:
            return
        if not held:
            raise self._no_role(production_id)
        raise self._refuse(
            production_id,
            "rights.read_not_allowed",
            f"What a revocation affects on production {production_id} is for its legal team, "
            "auditors and admins; ask legal.",
            "role may not read the rights report",
            RIGHTS_READERS,
        )

    def require_talent_keeper(self) -> None:
        """Refuse (``talent.not_allowed``) unless the person registers performers and their
        references: legal on some production, or an admin."""
        if self.holds_anywhere(RIGHTS_KEEPERS):
            return
        if self._reads_only():
            raise self._refuse_anywhere(
                "access.read_only",
                "Auditors read everything and change nothing; performers are registered by "
                "legal or an admin.",
                "auditor is a read-only role",
                RIGHTS_KEEPERS,
            )
        raise self._refuse_anywhere(
            "talent.not_allowed",
            "Performers are registered by legal or an admin; ask one of them.",
            "role",
            RIGHTS_KEEPERS,
        )

    def can_see_references(self) -> bool:
        """Whether the person may see performers' reference photos and voice samples
        (biometric data): legal or auditors on some production, or an admin."""
        return self.holds_anywhere(RIGHTS_READERS)

    def require_vendor_oversight(self) -> None:
        """Refuse (``vendor.oversight_only``) unless the person records vendor attestations,
        audits and findings: legal on some production, or an admin."""
        if self.holds_anywhere(VENDOR_OVERSEERS):
            return
        if self._reads_only():
            raise self._refuse_anywhere(
                "access.read_only",
                "Auditors read everything and change nothing; attestations and audits are "
                "recorded by legal or an admin.",
                "auditor is a read-only role",
                VENDOR_OVERSEERS,
            )
        raise self._refuse_anywhere(
            "vendor.oversight_only",
            "Vendor attestations, audits and findings are recorded by legal or an admin; "
            "ask one of them.",
            "role",
            VENDOR_OVERSEERS,
        )

    def visible_vendors(self) -> frozenset[str] | None:
        """Whose attestations and audits the person may read: everyone's (``None``) or only
        the vendors they work for.

        Admins and anyone holding a studio role somewhere read all; someone whose only
        roles are ``vendor`` reads their own vendors'; someone with no role at all is
        refused (``access.no_role``).
        """
        if self.person.is_admin:
            return None
        held = {role for roles in self.roles.values() for role in roles}
        if not held:
            raise self._refuse_anywhere(
                "access.no_role",
                "You hold no role on any production; ask a producer or an admin to add you.",
                "no role",
                Role,
            )
        if held != {Role.VENDOR}:
            return None
        return frozenset(self.vendor_of.values())  # no vendor named: sees none, not all

    def require_vendor_visible(self, vendor_id: str) -> None:
        """Refuse (``access.other_vendor``) a vendor's person reading another vendor's
        attestations, audits or tool standing."""
        visible = self.visible_vendors()
        if visible is not None and vendor_id not in visible:
            raise self._refuse_anywhere(
                "access.other_vendor",
                "A vendor's people see only their own vendor's attestations and audits.",
                "vendor_scope",
                {Role.VENDOR},
            )

    def require_allow_list(self, production_id: str) -> None:
        """Refuse unless the person chooses the tools ``production_id`` may use (producer
        or admin there): ``access.read_only`` for auditors, ``allowlist.not_allowed``
        for other roles, ``access.no_role`` without one."""
        self._require_keeper(
            production_id,
            MANAGERS,
            "allowlist.not_allowed",
            what="The tools",
            kept_by="chosen by its producer or an admin",
            reason="role may not change the allow-list",
        )

    def _require_keeper(
        self,
        production_id: str,
        keepers: frozenset[Role],
        code: str,
        *,
        what: str,
        kept_by: str,
        reason: str,
    ) -> None:
        """Refuse unless the person holds one of ``keepers`` on ``production_id``.

        Auditors get ``access.read_only``, no role ``access.no_role``, others ``code``;
        each sentence says who keeps ``what`` instead.
        """
        held = self.roles_in(production_id)
        if held & keepers:
            return
        if not held:
            raise self._no_role(production_id)
        if held == {Role.AUDITOR}:
            raise self._refuse(
                production_id,
                "access.read_only",
                f"Auditors read everything and change nothing. {what} on production "
                f"{production_id} are {kept_by}.",
                "auditor is a read-only role",
                keepers,
            )
        raise self._refuse(
            production_id,
            code,
            f"{what} on production {production_id} are {kept_by}; you hold {_one_of(held)} there.",
            reason,
            keepers,
        )


def load_access(conn: Connection, person: Person) -> Access:
    """``person``'s roles on every production, from their memberships."""
    rows = conn.execute(
        select(memberships.c.production_id, memberships.c.role, memberships.c.vendor_id).where(
            memberships.c.person_id == person.id
        )
    )
    return access_from(person, rows)


def access_from(person: Person, rows: Iterable[Any]) -> Access:
    """An :class:`Access` from membership rows (``production_id``, ``role``, ``vendor_id``).

    Rows whose ``production_id`` is None (an outer join's empty side) are skipped.
    """
    roles: dict[str, set[Role]] = {}
    vendor_of: dict[str, str] = {}
    for row in rows:
        if row.production_id is None:
            continue
        roles.setdefault(row.production_id, set()).add(Role(row.role))
        if row.vendor_id is not None:
            vendor_of[row.production_id] = row.vendor_id
    # Read-only views: an Access is shared by everything handling one request.
    return Access(
        person=person,
        roles=MappingProxyType({pid: frozenset(held) for pid, held in roles.items()}),
        vendor_of=MappingProxyType(vendor_of),
    )


# --- memberships --------------------------------------------------------------


def _membership(production_id: str, person_id: str, role: str, vendor_id: str | None) -> Membership:
    return Membership(
        production_id=production_id, person_id=person_id, role=Role(role), vendor_id=vendor_id
    )


def _require_production(conn: Connection, production_id: str) -> None:
    found = conn.execute(
        select(productions.c.id).where(productions.c.id == production_id)
    ).one_or_none()
    if found is None:
        raise NotFound(
            f"No production {production_id!r}; check the id.", code="production.not_found"
        )


def grant_role(
    conn: Connection,
    *,
    production_id: str,
    person_id: str,
    role: Role,
    vendor_id: str | None = None,
) -> Membership:
    """Give ``person_id`` ``role`` on ``production_id``; granting it again changes nothing.

    The vendor role names the vendor the person works for (``vendor_id``);
    other roles must not.
    """
    role = Role(role)
    if role is Role.VENDOR and vendor_id is None:
        raise InvalidInput(
            "A vendor role names the vendor the person works for; give vendor_id.",
            code="membership.vendor_required",
        )
    if role is not Role.VENDOR and vendor_id is not None:
        raise InvalidInput(
            f"Only the vendor role names a vendor; grant {role.value} without vendor_id.",
            code="membership.vendor_not_allowed",
        )
    _require_production(conn, production_id)
    get_person(conn, person_id)
    if vendor_id is not None:
        found = conn.execute(select(vendors.c.id).where(vendors.c.id == vendor_id)).one_or_none()
        if found is None:
            raise NotFound(f"No vendor {vendor_id!r}; check the id.", code="vendor.not_found")
    existing = conn.execute(
        select(memberships.c.vendor_id).where(
            memberships.c.production_id == production_id,
            memberships.c.person_id == person_id,
            memberships.c.role == role.value,
        )
    ).one_or_none()
    if existing is not None:
        if existing.vendor_id != vendor_id:
            raise Conflict(
                f"{person_id} already works on production {production_id} for vendor "
                f"{existing.vendor_id}; revoke that role before granting it for another vendor.",
                code="membership.other_vendor",
            )
        return _membership(production_id, person_id, role, vendor_id)
    try:
        conn.execute(
            insert(memberships).values(
                production_id=production_id,
                person_id=person_id,
                role=role.value,
                vendor_id=vendor_id,
                created_at=utcnow(),
            )
        )
    except IntegrityError as exc:  # a concurrent grant of the same role won the race
        raise Conflict(
            "That role was granted at the same moment by someone else; reload and check.",
            code="membership.concurrent_grant",
        ) from exc
    return _membership(production_id, person_id, role, vendor_id)


def revoke_role(conn: Connection, *, production_id: str, person_id: str, role: Role) -> None:
    """Take ``role`` on ``production_id`` away from ``person_id`` (NotFound if not held)."""
    done = conn.execute(
        delete(memberships).where(
            memberships.c.production_id == production_id,
            memberships.c.person_id == person_id,
            memberships.c.role == Role(role).value,
        )
    )
    if done.rowcount == 0:
        raise NotFound(
            f"{person_id} holds no {Role(role).value} role on production {production_id}.",
            code="membership.not_found",
        )


def list_memberships(
    conn: Connection, production_id: str | None = None, person_id: str | None = None
) -> list[Membership]:
    """Memberships, optionally only one production's and/or one person's."""
    query = select(
        memberships.c.production_id,
        memberships.c.person_id,
        memberships.c.role,
        memberships.c.vendor_id,
    ).order_by(memberships.c.production_id, memberships.c.person_id, memberships.c.role)
    if production_id is not None:
        query = query.where(memberships.c.production_id == production_id)
    if person_id is not None:
        query = query.where(memberships.c.person_id == person_id)
    return [
        _membership(row.production_id, row.person_id, row.role, row.vendor_id)
        for row in conn.execute(query)
    ]
