"""The public surface is exactly what ``mailbill.__all__`` lists."""

from __future__ import annotations

import mailbill


def test_all_is_sorted_and_complete() -> None:
    """This test ensures that __all__ is sorted and names every public attribute."""
    public = sorted(
        name
        for name, value in vars(mailbill).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("mailbill")
    )
    assert mailbill.__all__ == sorted(mailbill.__all__)
    assert sorted(set(mailbill.__all__) - {"__version__"}) == public


def test_every_public_name_has_a_docstring() -> None:
    """This test ensures that every exported class or function is documented."""
    undocumented = [
        name for name in mailbill.__all__ if name != "__version__" and not getattr(mailbill, name).__doc__
    ]
    assert undocumented == []
