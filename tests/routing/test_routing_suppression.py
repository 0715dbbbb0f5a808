"""The suppression list contract and its in-memory implementation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbill import Address, AddressError, MemorySuppressionList, SuppressionList, SuppressionReason
from mailbill.suppression import suppression_key

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_blocked_addresses_match_case_insensitively_and_across_idna_forms() -> None:
    """This test ensures that one mailbox is blocked however its address is spelt."""
    blocked = MemorySuppressionList(clock=lambda: NOON)
    entry = blocked.add("Kunde@Bücher.example", SuppressionReason.HARD_BOUNCE, note="550 5.1.1 unknown user")
    assert entry.address == "kunde@xn--bcher-kva.example"
    assert entry.created_at == NOON
    assert blocked.is_blocked(Address.parse("kunde@xn--bcher-kva.EXAMPLE")) == entry
    assert blocked.is_blocked(Address.parse("KUNDE@bücher.example")) == entry
    assert blocked.is_blocked(Address.parse("andere@bücher.example")) is None
    assert str(entry) == "kunde@xn--bcher-kva.example blocked (hard_bounce): 550 5.1.1 unknown user"


def test_adding_again_replaces_and_remove_unblocks() -> None:
    """This test ensures that re-adding updates the reason and remove() says whether something was removed."""
    blocked = MemorySuppressionList()
    blocked.add("a@example.com", SuppressionReason.HARD_BOUNCE)
    blocked.add(Address.parse("A@example.com"), SuppressionReason.COMPLAINT, note="FBL report")
    assert len(blocked) == 1
    (entry,) = blocked.entries()
    assert (entry.reason, entry.note) == (SuppressionReason.COMPLAINT, "FBL report")
    assert blocked.remove("a@EXAMPLE.com") is True
    assert blocked.remove("a@example.com") is False
    assert blocked.is_blocked(Address.parse("a@example.com")) is None


def test_contract_is_checked_and_bad_input_refused() -> None:
    """This test ensures that the memory list fits the protocol and refuses bad reasons and addresses."""
    blocked = MemorySuppressionList()
    assert isinstance(blocked, SuppressionList)
    with pytest.raises(TypeError, match="SuppressionReason"):
        blocked.add("a@example.com", "hard_bounce")  # type: ignore[arg-type]
    with pytest.raises(AddressError):
        blocked.add("not an address", SuppressionReason.MANUAL)
    assert suppression_key("Anna <ANNA@Example.SE>") == "anna@example.se"
    assert {r.value for r in SuppressionReason} == {"hard_bounce", "complaint", "unsubscribed", "manual"}
