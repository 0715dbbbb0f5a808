"""Properties of routing over arbitrary host data."""

from __future__ import annotations

import doctest

from hypothesis import given
from hypothesis import strategies as st

import mailbill._decision
import mailbill._documents
import mailbill._sender
import mailbill._sender_rules
import mailbill.recipients
import mailbill.senders
import mailbill.suppression
from mailbill import (
    Address,
    AddressStatus,
    Document,
    MemorySuppressionList,
    Party,
    Router,
    SenderCascade,
    SuppressionReason,
    decide,
    fixed,
)
from mailbill.suppression import suppression_key

# Host data: real addresses, their case variants, near-misses and arbitrary text.
GOOD = st.emails().map(str)
VARIANT = GOOD.map(str.upper) | GOOD.map(lambda e: f"Some Name <{e}>")
NEAR_MISS = GOOD.map(lambda e: e.replace("@", "@@", 1)) | GOOD.map(lambda e: e + "\r\nBcc: x@example.com")
RAW = st.one_of(GOOD, VARIANT, NEAR_MISS, st.text(max_size=40))
PARTIES = st.lists(
    st.builds(
        Party,
        name=st.text(max_size=20),
        emails=st.lists(RAW, max_size=4).map(tuple),
        opt_in=st.dictionaries(st.sampled_from(["invoice", "*"]), st.booleans(), max_size=2),
    ),
    max_size=4,
)
SENDERS = SenderCascade([fixed("billing@example.com")])


@given(parties=PARTIES, mode=st.sampled_from(["all", "first_valid"]), require=st.booleans())
def test_routing_never_crashes_and_accounts_for_every_address(
    parties: list[Party], mode: str, require: bool
) -> None:
    """This test ensures that any host data routes without error and every address gets one verdict."""
    doc = Document("invoice", "i/1", recipients=tuple(parties))
    routing = Router(mode=mode, require_opt_in=require).route(doc)  # type: ignore[arg-type]
    expected = sum(max(1, len(p.emails)) for p in parties)
    assert len(routing.outcomes) == expected
    used = [o.address for o in routing.outcomes if o.status is AddressStatus.USED]
    assert list(routing.to) == used
    keys = [suppression_key(a) for a in routing.to]
    assert len(keys) == len(set(keys))
    for outcome in routing.outcomes:
        if outcome.status is AddressStatus.INVALID_ADDRESS:
            assert outcome.detail
    decision = decide(doc, router=Router(mode=mode, require_opt_in=require), senders=SENDERS)  # type: ignore[arg-type]
    assert decision.is_mail == bool(routing.to)
    assert decision.explain().startswith("Document i/1 (invoice)")


@given(raws=st.lists(RAW, max_size=8))
def test_deduplication_is_idempotent(raws: list[str]) -> None:
    """This test ensures that routing the addresses a routing produced yields the same addresses again."""
    first = Router().route(Document("k", "d/1", recipients=(Party("P", emails=tuple(raws)),)))
    again = Router().route(
        Document("k", "d/1", recipients=(Party("P", emails=tuple(str(a) for a in first.to)),))
    )
    assert again.to == first.to
    assert all(o.status is AddressStatus.USED for o in again.outcomes) or not first.to


@given(raws=st.lists(GOOD, min_size=1, max_size=5), blocked_index=st.integers(min_value=0, max_value=4))
def test_blocked_addresses_are_never_routed(raws: list[str], blocked_index: int) -> None:
    """This test ensures that no spelling of a blocked address gets through."""
    blocked = MemorySuppressionList()
    target = raws[blocked_index % len(raws)]
    blocked.add(target, SuppressionReason.COMPLAINT)
    variants = (*raws, target.upper())
    routing = Router(suppression=blocked).route(
        Document("k", "d/1", recipients=(Party("P", emails=variants),))
    )
    assert suppression_key(Address.parse(target)) not in {suppression_key(a) for a in routing.to}


def test_docstring_examples_run() -> None:
    """This test ensures that the examples in the routing modules' docstrings are correct."""
    for module in (
        mailbill._documents,
        mailbill._sender,
        mailbill._sender_rules,
        mailbill.senders,
        mailbill.recipients,
        mailbill.suppression,
        mailbill._decision,
    ):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0, module.__name__
        assert result.failed == 0, module.__name__
