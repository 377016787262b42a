"""A tiny typed publish/subscribe registry: how a lower app tells higher apps what happened.

Lower apps (incidents, oncall) publish frozen dataclasses; higher apps (escalation,
notifications) subscribe in `AppConfig.ready()`. Handlers run synchronously inside the
publisher's transaction and should only record rows and defer jobs, so that a rollback takes
their work with it. This is deliberately not Django signals: publishing outside a transaction
is an error, and the subscription list is explicit and testable.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction


@dataclass(frozen=True)
class Event:
    """Base class of every domain event."""


E = TypeVar("E", bound=Event)
Handler = Callable[[E], None]

_handlers: defaultdict[type[Event], list[Callable[[Event], None]]] = defaultdict(list)


class PublishOutsideTransactionError(RuntimeError):
    pass


def subscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    """Register `handler` for `event_type` and its subclasses. Registering twice is a no-op."""
    if handler not in _handlers[event_type]:
        _handlers[event_type].append(handler)  # type: ignore[arg-type]


def unsubscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    if handler in _handlers[event_type]:
        _handlers[event_type].remove(handler)  # type: ignore[arg-type]


def handlers_for(event_type: type[Event]) -> list[Callable[[Event], None]]:
    found: list[Callable[[Event], None]] = []
    for klass in event_type.__mro__:
        found.extend(h for h in _handlers.get(klass, ()) if h not in found)
    return found


def _in_a_real_transaction(using: str) -> bool:
    # Tests run inside a transaction of the test framework's own; that one does not count, so a
    # service that forgot its transaction.atomic fails in tests as it would in production.
    connection = transaction.get_connection(using)
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def publish(event: Event, *, using: str = "default") -> None:
    """Run every subscriber of `event` now, inside the caller's transaction.

    A handler's exception propagates and rolls the whole change back: a lifecycle change whose
    escalation could not be scheduled must not commit.
    """
    if not _in_a_real_transaction(using):
        raise PublishOutsideTransactionError(
            f"{type(event).__name__} published outside a transaction; "
            "publish from inside the service's transaction.atomic block."
        )
    for handler in handlers_for(type(event)):
        handler(event)
