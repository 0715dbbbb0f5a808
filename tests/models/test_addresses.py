"""Address.parse / parse_list: names, lists, international addresses and refusals."""

from __future__ import annotations

import pytest

from mailbill import Address, AddressError, HeaderInjectionError, OutgoingMessage


@pytest.mark.parametrize(
    ("text", "email", "name"),
    [
        ("Anna Andersson <anna@Example.SE>", "anna@example.se", "Anna Andersson"),
        ("anna@example.se", "anna@example.se", ""),
        ("<anna@example.se>", "anna@example.se", ""),
        ('"Müller, Hans" <hans@example.de>', "hans@example.de", "Müller, Hans"),
        ("Åsa Öberg <asa@example.se>", "asa@example.se", "Åsa Öberg"),
        ('"Say \\"hi\\"" <a@example.nl>', "a@example.nl", 'Say "hi"'),
        ("  Zoë   van  Dijk   <zoe@example.nl> ", "zoe@example.nl", "Zoë van Dijk"),
        ("山田 太郎 <taro@example.jp>", "taro@example.jp", "山田 太郎"),
    ],
)
def test_parse_splits_name_and_address(text: str, email: str, name: str) -> None:
    """This test ensures that quoted, unquoted and Unicode display names are split off correctly."""
    addr = Address.parse(text)
    assert (addr.email, addr.name) == (email, name)


def test_idn_domain_keeps_unicode_and_has_ascii_form() -> None:
    """This test ensures that an IDN domain is kept in Unicode with an IDNA envelope form."""
    addr = Address.parse("Jörg <joerg@Bücher.DE>")
    assert addr.email == "joerg@bücher.de"
    assert addr.ascii_email == "joerg@xn--bcher-kva.de"
    assert addr.envelope == "joerg@xn--bcher-kva.de"
    assert not addr.needs_smtputf8


def test_non_ascii_local_part_needs_smtputf8() -> None:
    """This test ensures that a non-ASCII local part is accepted and flagged as SMTPUTF8."""
    addr = Address.parse("märta@exempel.se")
    assert addr.needs_smtputf8
    assert addr.ascii_email is None
    assert addr.envelope == "märta@exempel.se"
    msg = OutgoingMessage(sender=Address("a@example.se"), to=(addr,), text="x")
    assert msg.smtputf8


@pytest.mark.parametrize(
    "text",
    [
        "not an address",
        "anna@",
        "@example.se",
        "Anna <anna@example.se",
        "a@example.se, b@example.se",
        "a@example.se; b@example.se",
        "A <a@example.se> <b@example.se>",
        "Anna <>",
        "",
        "   ",
    ],
)
def test_parse_refuses_anything_but_one_valid_address(text: str) -> None:
    """This test ensures that invalid input or more than one address raises AddressError naming it."""
    with pytest.raises(AddressError) as info:
        Address.parse(text)
    assert repr(text) in str(info.value) or repr(text.strip()) in str(info.value)


def test_parse_refuses_non_strings() -> None:
    """This test ensures that a non-string gives AddressError, not a TypeError."""
    with pytest.raises(AddressError, match="expected a string"):
        Address.parse(42)  # type: ignore[arg-type]


def test_parse_list_separators_and_quotes() -> None:
    """This test ensures that commas and semicolons separate, but not inside quotes or brackets."""
    addrs = Address.parse_list('"Müller, Hans" <h@example.de>; Åsa <a@example.se>, c@example.fr;')
    assert [(a.name, a.email) for a in addrs] == [
        ("Müller, Hans", "h@example.de"),
        ("Åsa", "a@example.se"),
        ("", "c@example.fr"),
    ]
    assert Address.parse_list("") == ()
    assert Address.parse_list([Address("x@example.se"), "y@example.se"]) == (
        Address("x@example.se"),
        Address("y@example.se"),
    )


def test_parse_list_names_the_bad_element() -> None:
    """This test ensures that an invalid element in a list is named in the error."""
    with pytest.raises(AddressError) as info:
        Address.parse_list("a@example.se, Müller, Hans <h@example.de>")
    assert "'Müller'" in str(info.value)
    assert info.value.address == "Müller"


def test_sender_must_be_one_address_object() -> None:
    """This test ensures that a string or list as sender is refused: From holds exactly one address."""
    with pytest.raises(AddressError, match="one Address"):
        OutgoingMessage(sender="a@example.se", to=(Address("b@example.se"),), text="x")  # type: ignore[arg-type]
    with pytest.raises(AddressError):
        OutgoingMessage(
            sender=Address.parse_list("a@example.se, c@example.se"), to=(Address("b@example.se"),)
        )  # type: ignore[arg-type]


def test_message_needs_a_recipient() -> None:
    """This test ensures that a message without any recipient is refused."""
    with pytest.raises(AddressError, match="recipient"):
        OutgoingMessage(sender=Address("a@example.se"), text="x")


@pytest.mark.parametrize("bad", ["\r", "\n", "\x00", "\x1b", "\x7f", "\u0085", "\u2028", "\u2029", "\t"])
def test_control_characters_in_addresses_and_names(bad: str) -> None:
    """This test ensures that control characters in an address or name raise HeaderInjectionError."""
    with pytest.raises(HeaderInjectionError):
        Address.parse(f"Anna{bad}Bcc: x@evil.com <anna@example.se>")
    with pytest.raises(HeaderInjectionError):
        Address("anna@example.se", f"Anna{bad}x")
    with pytest.raises(HeaderInjectionError):
        Address(f"anna{bad}@example.se")
    with pytest.raises(HeaderInjectionError):
        Address.parse_list(f"a@example.se, b{bad}@example.se")


def test_str_quotes_names_that_need_it() -> None:
    """This test ensures that str() of an address quotes a name with specials so it parses back."""
    addr = Address("h@example.de", "Müller, Hans")
    assert Address.parse(str(addr)) == addr


def test_domain_str_and_list_forms() -> None:
    """This test ensures the small accessors and list forms behave as documented."""
    addr = Address("anna@example.se")
    assert addr.domain == "example.se"
    assert str(addr) == "anna@example.se"
    assert Address.parse_list(addr) == (addr,)
    assert Address.parse_list('"a, \\"b\\"" <a@example.se>')[0].name == 'a, "b"'
    with pytest.raises(AddressError, match="int"):
        Address.parse_list([1])  # type: ignore[list-item]


def test_envelope_sender_is_the_bounce_address() -> None:
    """This test ensures mail_from uses envelope_sender when given, and SMTPUTF8 considers it."""
    message = OutgoingMessage(
        sender=Address("a@example.se"),
        to=(Address("b@example.se"),),
        text="x",
        envelope_sender=Address("bounces+märta@example.se"),
    )
    assert message.mail_from == "bounces+märta@example.se"
    assert message.smtputf8
    with pytest.raises(AddressError, match="envelope_sender"):
        OutgoingMessage(sender=Address("a@example.se"), to="b@example.se", envelope_sender="c@example.se")  # type: ignore[arg-type]


def test_naive_date_is_refused() -> None:
    """This test ensures that a Date without a time zone is refused."""
    from datetime import datetime

    with pytest.raises(HeaderInjectionError, match="timezone"):
        OutgoingMessage(sender=Address("a@example.se"), to="b@example.se", date=datetime(2025, 1, 1))
