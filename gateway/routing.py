"""Routing: which participant's gateway serves a recipient organisation (DESIGN §3 step 2).

An organisation is found by any of its ids (GUID, INN, OGRN, МЭДО address), most specific
first. A recipient nobody serves, or whose ids point at two different participants, is a
:class:`RoutingError` that names the organisation and the ids tried — never a silent drop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.config import Participant, normalise_org_id
from gateway.errors import RoutingError
from gateway.model import Organization, OrgIdKind, Person


class Router:
    def __init__(self, participants: Sequence[Participant]) -> None:
        self.participants = {p.id: p for p in participants}
        self._by_id: dict[tuple[OrgIdKind, str], Participant] = {
            (kind, value): participant
            for participant in participants
            for kind, values in participant.serves.items()
            for value in values
        }

    def participant(self, participant_id: str) -> Participant:
        try:
            return self.participants[participant_id]
        except KeyError:
            raise RoutingError(
                f"participant {participant_id!r} is not in the participant registry",
                code="routing.unknown_participant",
            ) from None

    def resolve(self, organization: Organization) -> Participant:
        """The participant that serves this organisation."""
        matches: dict[str, Participant] = {}
        tried = []
        for kind, raw in organization.identifiers():
            value = normalise_org_id(kind, raw)
            tried.append(f"{kind.value}={value}")
            found = self._by_id.get((kind, value))
            if found is not None:
                matches.setdefault(found.id, found)
        if len(matches) == 1:
            return next(iter(matches.values()))
        name = organization.short_name
        if not matches:
            ids = ", ".join(tried) if tried else "no identifiers at all"
            raise RoutingError(
                f"no participant serves {name!r} ({ids}); add the id to the participant's "
                f"[participant.serves] in participants.toml or correct the addressee"
            )
        raise RoutingError(
            f"the ids of {name!r} ({', '.join(tried)}) point at different participants: "
            f"{', '.join(sorted(matches))}; correct the addressee or participants.toml",
            code="routing.ambiguous_recipient",
        )

    def destinations(self, addressees: Iterable[Person]) -> dict[str, tuple[Person, ...]]:
        """Addressees grouped by destination participant: one outbound message per group.

        Every unknown addressee is reported in one error, so a sender fixes them all at once.
        """
        groups: dict[str, list[Person]] = {}
        problems: list[RoutingError] = []
        for person in addressees:
            try:
                participant = self.resolve(person.organization)
            except RoutingError as exc:
                problems.append(exc)
                continue
            groups.setdefault(participant.id, []).append(person)
        if problems:
            raise RoutingError(
                "; ".join(p.message for p in problems),
                code=problems[0].code if len({p.code for p in problems}) == 1 else None,
            )
        if not groups:
            raise RoutingError("the document has no addressees", code="routing.no_addressees")
        return {pid: tuple(people) for pid, people in groups.items()}
