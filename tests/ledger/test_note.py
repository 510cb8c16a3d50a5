"""Signed notes interoperate with Go's golang.org/x/mod/sumdb/note."""

from __future__ import annotations

import pytest

from greenlight.core.errors import InvalidInput, VerificationFailed
from greenlight.ledger import note
from tests.expect import refused

# The published test vector of golang.org/x/mod/sumdb/note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def test_signing_reproduces_gos_signature_byte_for_byte() -> None:
    signed = note.sign(GO_TEXT, GO_SKEY)
    assert signed == f"{GO_TEXT}\n— PeterNeumann {GO_SIG}\n"
    assert note.Signer.parse(GO_SKEY).verifier_key == GO_VKEY


def test_a_go_signed_note_verifies() -> None:
    opened = note.verify(f"{GO_TEXT}\n— PeterNeumann {GO_SIG}\n", GO_VKEY)
    assert opened.text == GO_TEXT
    assert [s.key_id for s in opened.signatures] == [0xC74F20A3]


def test_signatures_by_unknown_keys_are_kept_but_not_trusted() -> None:
    other_skey, other_vkey = note.generate_key("witness.example/w1")
    signed = note.sign(GO_TEXT, GO_SKEY)
    cosigned = signed + note.sign(GO_TEXT, other_skey).split("\n\n")[-1]
    opened = note.verify(cosigned, GO_VKEY)
    assert [s.name for s in opened.unverified] == ["witness.example/w1"]
    assert note.verify(cosigned, other_vkey).unverified[0].name == "PeterNeumann"


def test_an_altered_note_is_rejected() -> None:
    signed = note.sign(GO_TEXT, GO_SKEY)
    with refused("note.bad_signature", VerificationFailed):
        note.verify(signed.replace("problem", "problems", 1), GO_VKEY)


def test_a_note_not_signed_by_the_key_is_rejected() -> None:
    _, other_vkey = note.generate_key("someone-else")
    with refused("note.unverified", VerificationFailed):
        note.verify(note.sign(GO_TEXT, GO_SKEY), other_vkey)


@pytest.mark.parametrize(
    "bad",
    [
        GO_TEXT,  # no signature block
        GO_TEXT + "\n",  # empty signature block
        GO_TEXT + "\n— PeterNeumann " + GO_SIG,  # no final newline
        GO_TEXT + "\n- PeterNeumann " + GO_SIG + "\n",  # ASCII dash
        GO_TEXT + "\n— PeterNeumann !!!\n",  # not base64
        GO_TEXT + "\n— PeterNeumann AAAA\n",  # too short
        "bell\x07\n\n— PeterNeumann " + GO_SIG + "\n",  # control character
    ],
)
def test_malformed_notes_are_rejected(bad: str) -> None:
    with refused("note.malformed", VerificationFailed):
        note.verify(bad, GO_VKEY)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+ARpc2Qc",  # short key
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_rejected(key: str) -> None:
    with pytest.raises(InvalidInput):
        note.verify(note.sign(GO_TEXT, GO_SKEY), key)


def test_signer_refuses_text_that_cannot_round_trip() -> None:
    for text in ["no newline", "blank\n\nline\n", "tab\there\n"]:
        with pytest.raises(InvalidInput):
            note.sign(text, GO_SKEY)
    with pytest.raises(InvalidInput):
        note.Signer.parse(GO_SKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(InvalidInput):
        note.generate_key("bad+name")


def test_generated_keys_sign_and_verify() -> None:
    skey, vkey = note.generate_key("studio.example/ledger")
    assert skey.startswith("PRIVATE+KEY+studio.example/ledger+")
    assert note.verify(note.sign("hello\n", skey), vkey).text == "hello\n"
