"""Reads and writes of CRM records for the API: names, public views, search, new contacts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from crm_store.items import TargetKind
from crm_store.models import Account, AccountDomain, Contact, ContactEmail, Opportunity, User
from crm_store.upsert import chunks
from rules.free_mail import shipped_free_mail_domains
from web.errors import Conflict, NotFound
from web.schemas.records import (
    AccountPublic,
    ContactCreate,
    ContactCreated,
    ContactPublic,
    OpportunityPublic,
    SearchHit,
)

SEARCH_LIMIT_MAX = 50


def target_names(
    session: Session, targets: Iterable[tuple[TargetKind, int]]
) -> dict[tuple[TargetKind, int], str]:
    """Readable names of link targets: account name, contact name, 'CODE name' of a deal."""
    by_kind: dict[TargetKind, set[int]] = {}
    for kind, ident in targets:
        by_kind.setdefault(kind, set()).add(ident)
    names: dict[tuple[TargetKind, int], str] = {}
    for chunk in chunks(sorted(by_kind.get(TargetKind.ACCOUNT, set()))):
        for ident, name in session.execute(
            select(Account.id, Account.name).where(Account.id.in_(chunk))
        ):
            names[(TargetKind.ACCOUNT, int(ident))] = name
    for chunk in chunks(sorted(by_kind.get(TargetKind.CONTACT, set()))):
        for ident, first, last in session.execute(
            select(Contact.id, Contact.first_name, Contact.last_name).where(Contact.id.in_(chunk))
        ):
            names[(TargetKind.CONTACT, int(ident))] = f"{first} {last}".strip()
    for chunk in chunks(sorted(by_kind.get(TargetKind.OPPORTUNITY, set()))):
        for ident, code, name in session.execute(
            select(Opportunity.id, Opportunity.code, Opportunity.name).where(
                Opportunity.id.in_(chunk)
            )
        ):
            names[(TargetKind.OPPORTUNITY, int(ident))] = f"{code} {name}"
    return names


def contacts_public(session: Session, ids: Sequence[int]) -> list[ContactPublic]:
    if not ids:
        return []
    emails: dict[int, list[str]] = {}
    out: list[ContactPublic] = []
    for chunk in chunks(sorted(set(ids))):
        for contact_id, email in session.execute(
            select(ContactEmail.contact_id, ContactEmail.email)
            .where(ContactEmail.contact_id.in_(chunk))
            .order_by(ContactEmail.position, ContactEmail.id)
        ):
            emails.setdefault(int(contact_id), []).append(email)
        for contact in session.scalars(select(Contact).where(Contact.id.in_(chunk))):
            out.append(
                ContactPublic(
                    id=contact.id,
                    name=contact.full_name,
                    first_name=contact.first_name,
                    last_name=contact.last_name,
                    title=contact.title,
                    emails=emails.get(contact.id, []),
                    account_id=contact.account_id,
                )
            )
    order = {ident: n for n, ident in enumerate(ids)}
    return sorted(out, key=lambda c: order.get(c.id, len(order)))


def accounts_public(session: Session, ids: Sequence[int]) -> list[AccountPublic]:
    if not ids:
        return []
    owner = aliased(User)
    domains: dict[int, list[str]] = {}
    out: list[AccountPublic] = []
    for chunk in chunks(sorted(set(ids))):
        for account_id, domain in session.execute(
            select(AccountDomain.account_id, AccountDomain.domain)
            .where(AccountDomain.account_id.in_(chunk))
            .order_by(AccountDomain.id)
        ):
            domains.setdefault(int(account_id), []).append(domain)
        for ident, name, email in session.execute(
            select(Account.id, Account.name, owner.email)
            .outerjoin(owner, owner.id == Account.owner_id)
            .where(Account.id.in_(chunk))
        ):
            out.append(
                AccountPublic(
                    id=int(ident), name=name, domains=domains.get(int(ident), []), owner_email=email
                )
            )
    order = {ident: n for n, ident in enumerate(ids)}
    return sorted(out, key=lambda a: order.get(a.id, len(order)))


def opportunities_public(session: Session, ids: Sequence[int]) -> list[OpportunityPublic]:
    if not ids:
        return []
    owner = aliased(User)
    out: list[OpportunityPublic] = []
    for chunk in chunks(sorted(set(ids))):
        for opportunity, email in session.execute(
            select(Opportunity, owner.email)
            .outerjoin(owner, owner.id == Opportunity.owner_id)
            .where(Opportunity.id.in_(chunk))
        ):
            out.append(_opportunity_public(opportunity, email))
    order = {ident: n for n, ident in enumerate(ids)}
    return sorted(out, key=lambda o: order.get(o.id, len(order)))


def _opportunity_public(opportunity: Opportunity, owner_email: str | None) -> OpportunityPublic:
    return OpportunityPublic(
        id=opportunity.id,
        code=opportunity.code,
        name=opportunity.name,
        account_id=opportunity.account_id,
        stage=opportunity.stage,
        status=opportunity.status,
        amount=opportunity.amount,
        currency=opportunity.currency,
        owner_email=owner_email,
    )


def require_target(session: Session, kind: TargetKind, ident: int) -> None:
    model = {TargetKind.ACCOUNT: Account, TargetKind.CONTACT: Contact}.get(kind, Opportunity)
    if session.get(model, ident) is None:
        raise NotFound(f"no {kind.value} with id {ident}")


# --------------------------------------------------------------------------- search


def search_records(
    session: Session, query: str, kinds: Sequence[TargetKind], limit: int
) -> list[SearchHit]:
    """Records whose name, code or email contains ``query`` (case-insensitive).

    The text is bound as a parameter and LIKE wildcards in it are escaped, so
    ``%`` or ``'; drop table`` are searched for literally.
    """
    text = query.strip()
    hits: list[SearchHit] = []
    if TargetKind.OPPORTUNITY in kinds:
        for ident, code, name, account in session.execute(
            select(Opportunity.id, Opportunity.code, Opportunity.name, Account.name)
            .join(Account, Account.id == Opportunity.account_id)
            .where(
                or_(
                    Opportunity.code.icontains(text, autoescape=True),
                    Opportunity.name.icontains(text, autoescape=True),
                )
            )
            .order_by(Opportunity.status != "open", Opportunity.code)
            .limit(limit)
        ):
            hits.append(
                SearchHit(
                    kind=TargetKind.OPPORTUNITY,
                    id=int(ident),
                    label=f"{code} {name}",
                    detail=account,
                )
            )
    if TargetKind.ACCOUNT in kinds:
        for ident, name in session.execute(
            select(Account.id, Account.name)
            .where(
                or_(
                    Account.name.icontains(text, autoescape=True),
                    Account.id.in_(
                        select(AccountDomain.account_id).where(
                            AccountDomain.domain.istartswith(text, autoescape=True)
                        )
                    ),
                )
            )
            .order_by(Account.name)
            .limit(limit)
        ):
            hits.append(SearchHit(kind=TargetKind.ACCOUNT, id=int(ident), label=name, detail=""))
    if TargetKind.CONTACT in kinds:
        full_name = Contact.first_name + " " + Contact.last_name
        matched_ids = (
            select(ContactEmail.contact_id)
            .where(ContactEmail.email.istartswith(text.lower(), autoescape=True))
            .limit(limit)
        )
        for ident, first, last in session.execute(
            select(Contact.id, Contact.first_name, Contact.last_name)
            .where(or_(Contact.id.in_(matched_ids), full_name.icontains(text, autoescape=True)))
            .order_by(Contact.last_name, Contact.first_name)
            .limit(limit)
        ):
            hits.append(
                SearchHit(
                    kind=TargetKind.CONTACT,
                    id=int(ident),
                    label=f"{first} {last}".strip(),
                    detail="",
                )
            )
    emails = _primary_emails(session, [h.id for h in hits if h.kind is TargetKind.CONTACT])
    return [
        h.model_copy(update={"detail": emails.get(h.id, "")}) if h.kind is TargetKind.CONTACT else h
        for h in hits
    ][: limit * len(kinds)]


def _primary_emails(session: Session, contact_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(contact_ids))):
        for contact_id, email in session.execute(
            select(ContactEmail.contact_id, ContactEmail.email)
            .where(ContactEmail.contact_id.in_(chunk))
            .order_by(ContactEmail.position.desc(), ContactEmail.id.desc())
        ):
            found[int(contact_id)] = email
    return found


# --------------------------------------------------------------------------- contacts


def create_contact_from_sender(session: Session, request: ContactCreate) -> ContactCreated:
    """A new contact for an unknown sender, at the account that owns the sender's domain.

    The account is inferred only when exactly one account claims the domain and
    it is not a free-mail domain (a gmail.com sender belongs to no company).
    """
    email = request.email
    if session.execute(select(ContactEmail.id).where(ContactEmail.email == email)).first():
        raise Conflict(f"email: {email} is already a contact's address")
    account_id, reason = _account_for(session, email, request.account_id)
    first, last = _names(request)
    contact = Contact(
        first_name=first,
        last_name=last,
        title=request.title,
        phone=request.phone,
        account_id=account_id,
    )
    session.add(contact)
    session.flush()
    session.add(ContactEmail(contact_id=contact.id, email=email, position=0))
    session.flush()
    account = accounts_public(session, [account_id]) if account_id is not None else []
    return ContactCreated(
        contact=contacts_public(session, [contact.id])[0],
        account=account[0] if account else None,
        account_reason=reason,
    )


def _account_for(session: Session, email: str, given: int | None) -> tuple[int | None, str]:
    if given is not None:
        if session.get(Account, given) is None:
            raise NotFound(f"accountId: no account with id {given}")
        return given, "chosen by the user"
    domain = email.rpartition("@")[2]
    if domain in shipped_free_mail_domains():
        return None, f"{domain} is a free-mail domain: no account inferred"
    owners = list(
        session.scalars(select(AccountDomain.account_id).where(AccountDomain.domain == domain))
    )
    if len(owners) == 1:
        return int(owners[0]), f"domain {domain} belongs to this account"
    if not owners:
        return None, f"no account has the domain {domain}"
    return None, f"{len(owners)} accounts share the domain {domain}: pick one"


def _names(request: ContactCreate) -> tuple[str, str]:
    if request.first_name is not None or request.last_name is not None:
        return request.first_name or "", request.last_name or ""
    display = " ".join(request.display_name.split())
    if "," in display:
        last, _, first = display.partition(",")
        return first.strip(), last.strip()
    if display and "@" not in display:
        first, _, last = display.rpartition(" ")
        return (first, last) if first else (last, "")
    local = request.email.partition("@")[0]
    parts = [p.capitalize() for p in local.replace("_", ".").split(".") if p]
    return (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else ("", parts[0] if parts else "")
