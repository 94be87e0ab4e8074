"""Who exists in the fake Canvas and who may see what: users, tokens, courses and groups.

The base of ``World``, split off so the conference logic reads on its own. Membership here is
what Canvas's ``for_user`` joins on (enrollments not deleted, group memberships), and the
token states give Canvas's three 401 messages.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from monitor.simulator.errors import SimAuthError, SimInputError, SimNotFoundError
from monitor.simulator.records import CONTEXT_TYPES, ContextType, SimContext, SimToken, TokenState

ContextKey = tuple[ContextType, int]

DEFAULT_USER_ID: Final = 1
DEFAULT_TOKEN: Final = "sim-token"  # noqa: S105 - the simulator's well-known test token
DEFAULT_CONTEXTS: Final[tuple[ContextKey, ...]] = (("Course", 101), ("Course", 202), ("Group", 7))
_TOKEN_ERRORS: Final = {
    TokenState.REVOKED: "Revoked access token.",
    TokenState.EXPIRED: "Expired access token.",
}


class Directory:
    """Users, access tokens, and the courses/groups users are members of."""

    def __init__(self) -> None:
        self._users: dict[int, str] = {}
        self._tokens: dict[str, SimToken] = {}
        self._contexts: dict[ContextKey, SimContext] = {}

    def _reset_directory(self) -> None:
        """User 1 "Sim User" with token ``sim-token``, enrolled in courses 101, 202 and group 7."""
        self._users.clear()
        self._tokens.clear()
        self._contexts.clear()
        self.add_user(DEFAULT_USER_ID, "Sim User")
        self.add_token(DEFAULT_TOKEN, DEFAULT_USER_ID)
        for context_type, context_id in DEFAULT_CONTEXTS:
            self.add_context(context_type, context_id)
            self.enroll(DEFAULT_USER_ID, context_type, context_id)

    # users and tokens

    def add_user(self, user_id: int, name: str | None = None) -> None:
        self._users[user_id] = name or self._users.get(user_id) or f"Sim User {user_id}"

    def user_name(self, user_id: int) -> str:
        try:
            return self._users[user_id]
        except KeyError:
            raise SimNotFoundError(f"no user {user_id}") from None

    def add_token(self, token: str, user_id: int) -> None:
        if not token:
            raise SimInputError("token must not be empty")
        self.add_user(user_id)
        self._tokens[token] = SimToken(user_id)

    def revoke_token(self, token: str) -> None:
        self._set_token_state(token, TokenState.REVOKED)

    def expire_token(self, token: str) -> None:
        self._set_token_state(token, TokenState.EXPIRED)

    def authenticate(self, token: str | None) -> int:
        """The token's user id, or ``SimAuthError`` carrying Canvas's message."""
        record = self._tokens.get(token) if token else None
        if record is None:
            raise SimAuthError("Invalid access token.")
        if record.state is not TokenState.ACTIVE:
            raise SimAuthError(_TOKEN_ERRORS[record.state])
        return record.user_id

    def _set_token_state(self, token: str, state: TokenState) -> None:
        if token not in self._tokens:
            raise SimNotFoundError("no such token")
        self._tokens[token] = dataclasses.replace(self._tokens[token], state=state)

    # courses and groups

    def add_context(
        self, context_type: ContextType, context_id: int, *, conferences_tab: bool = True
    ) -> None:
        """Create a course or group (or change its tab setting, keeping its members)."""
        if context_type not in CONTEXT_TYPES:
            raise SimInputError(
                f"context_type must be one of {CONTEXT_TYPES}, not {context_type!r}"
            )
        old = self._contexts.get((context_type, context_id))
        members = old.members if old else frozenset[int]()
        self._contexts[(context_type, context_id)] = SimContext(
            context_type, context_id, conferences_tab, members
        )

    def context(self, context_type: ContextType, context_id: int) -> SimContext:
        try:
            return self._contexts[(context_type, context_id)]
        except KeyError:
            raise SimNotFoundError(f"no {context_type} {context_id}") from None

    def contexts(self) -> list[SimContext]:
        return list(self._contexts.values())

    def set_conferences_tab(
        self, context_type: ContextType, context_id: int, enabled: bool
    ) -> None:
        ctx = self.context(context_type, context_id)
        self._contexts[(context_type, context_id)] = dataclasses.replace(
            ctx, conferences_tab=enabled
        )

    def enroll(self, user_id: int, context_type: ContextType, context_id: int) -> None:
        ctx = self.context(context_type, context_id)
        self.add_user(user_id)
        self._contexts[(context_type, context_id)] = dataclasses.replace(
            ctx, members=ctx.members | {user_id}
        )

    def unenroll(self, user_id: int, context_type: ContextType, context_id: int) -> None:
        ctx = self.context(context_type, context_id)
        self._contexts[(context_type, context_id)] = dataclasses.replace(
            ctx, members=ctx.members - {user_id}
        )

    def is_member(self, user_id: int, context_type: ContextType, context_id: int) -> bool:
        ctx = self._contexts.get((context_type, context_id))
        return ctx is not None and user_id in ctx.members
