"""Signing AI outputs and reading their credentials back, as the lifecycle and an auditor do."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from greenlight.core import ProvenanceError, Settings
from greenlight.provenance import (
    GOVERNANCE_LABEL,
    CredentialFacts,
    Governance,
    LedgerReference,
    SigningIdentity,
    Tool,
    TrainingMining,
    TrustAnchors,
    governance_reference,
    read_credentials,
    sign_asset,
)
from tests.expect import refused
from tests.media import MEDIA, make_image, make_srt, make_video, make_wav

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
SIDECAR_TYPES = {".srt", ".vtt", ".ttml", ".json", ".exr"}


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", sorted(MEDIA))
def test_every_supported_format_signs_and_verifies_as_trusted(
    suffix: str,
    tmp_path: Path,
    studio: Settings,
    identity: SigningIdentity,
    generated: CredentialFacts,
) -> None:
    src = MEDIA[suffix](tmp_path / f"frame{suffix}")
    dst = tmp_path / f"signed{suffix}"

    signed = sign_asset(src, dst, generated, identity)

    assert signed.sha256 == hashlib.sha256(dst.read_bytes()).hexdigest()
    assert signed.size == dst.stat().st_size
    if suffix in SIDECAR_TYPES:
        assert signed.binding == "sidecar"
        assert signed.sidecar == tmp_path / f"signed{suffix}.c2pa"
        assert dst.read_bytes() == src.read_bytes(), "a sidecar type is never rewritten"
    else:
        assert signed.binding == "embedded"
        assert signed.sidecar is None
    report = read_credentials(dst, trust=TrustAnchors.studio(studio))
    assert report.state == "Trusted", report.failures
    assert report.manifest.label == signed.manifest_label
    assert [a.action for a in report.manifest.actions] == ["c2pa.created"]
    assert report.manifest.actions[0].digital_source_type == IPTC + "trainedAlgorithmicMedia"
    assert report.manifest.actions[0].software_agent == "lumen-diffusion 3.2.0"
    assert report.manifest.governance == generated.governance


def test_a_credential_carries_governance_and_the_ledger_entry_but_not_the_prompt(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    dst = tmp_path / "styleframe.png"
    sign_asset(make_image(tmp_path / "raw.png"), dst, generated, identity)

    report = read_credentials(dst, trust=TrustAnchors.studio(studio))

    manifest = report.store["manifests"][report.manifest.label]
    governance = next(a["data"] for a in manifest["assertions"] if a["label"] == GOVERNANCE_LABEL)
    assert governance["request_id"] == "req_01J9Z8"
    assert governance["policy_version"] == "2026.11.1"
    assert governance["approval_ids"] == ["apr_vfx_sup", "apr_showrunner"]
    assert governance["ledger"] == {
        "origin": "greenlight.local/ledger",
        "index": 41,
        "leaf_hash": "0f" * 32,
    }
    assert "boom mic" not in json.dumps(report.store)
    reference = governance_reference(report)
    assert reference == LedgerReference(
        origin="greenlight.local/ledger", index=41, leaf_hash="0f" * 32
    )
    assert reference.leaf_hash_bytes == bytes.fromhex("0f" * 32)


def test_training_and_mining_are_not_allowed_unless_the_production_says_so(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    default = tmp_path / "default.png"
    sign_asset(make_image(tmp_path / "a.png"), default, generated, identity)
    open_for_inference = generated.model_copy(
        update={
            "training_mining": TrainingMining(
                ai_inference="allowed",
                data_mining="constrained",
                constraint_info="catalog search only",
            )
        }
    )
    custom = tmp_path / "custom.png"
    sign_asset(make_image(tmp_path / "b.png"), custom, open_for_inference, identity)

    trust = TrustAnchors.studio(studio)
    assert set(read_credentials(default, trust=trust).manifest.training_mining.values()) == {
        "notAllowed"
    }
    assert read_credentials(custom, trust=trust).manifest.training_mining == {
        "cawg.ai_generative_training": "notAllowed",
        "cawg.ai_training": "notAllowed",
        "cawg.ai_inference": "allowed",
        "cawg.data_mining": "constrained",
    }


def test_reference_inputs_are_recorded_as_input_ingredients(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    style = make_image(tmp_path / "style_ref.jpg", seed=3)
    mask = make_image(tmp_path / "mask.png", seed=4)
    subtitles = make_srt(tmp_path / "source.en.srt")
    facts = generated.model_copy(update={"inputs": (style, mask, subtitles)})
    dst = tmp_path / "frame.png"

    sign_asset(make_image(tmp_path / "raw.png"), dst, facts, identity)

    report = read_credentials(dst, trust=TrustAnchors.studio(studio))
    assert report.state == "Trusted"
    assert [(i.title, i.relationship) for i in report.manifest.ingredients] == [
        ("style_ref.jpg", "inputTo"),
        ("mask.png", "inputTo"),
        ("source.en.srt", "inputTo"),
    ]
    created = report.store["manifests"][report.manifest.label]["assertions"][0]["data"]
    assert len(created["actions"][0]["parameters"]["ingredients"]) == 3


def test_an_ai_edit_of_a_real_plate_opens_the_plate_and_marks_the_composite(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, governance: Governance
) -> None:
    plate = make_video(tmp_path / "plate_sh010.mp4")
    facts = CredentialFacts(
        kind="edited",
        tool=Tool(name="cleanplate", version="1.4"),
        governance=governance,
        source=plate,
        inputs=(make_image(tmp_path / "matte.png"),),
    )
    dst = tmp_path / "sh010_clean.mp4"

    sign_asset(plate, dst, facts, identity)

    report = read_credentials(dst, trust=TrustAnchors.studio(studio))
    assert report.state == "Trusted"
    actions = report.manifest.actions
    assert [a.action for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1].digital_source_type == IPTC + "compositeWithTrainedAlgorithmicMedia"
    assert actions[1].software_agent == "cleanplate 1.4"
    assert [(i.title, i.relationship) for i in report.manifest.ingredients] == [
        ("plate_sh010.mp4", "parentOf"),
        ("matte.png", "inputTo"),
    ]
    assert report.ancestors == (), "a camera plate has no credentials of its own"


def test_an_edit_chain_of_three_steps_keeps_every_ancestor(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    current = tmp_path / "step0.png"
    sign_asset(make_image(tmp_path / "raw.png"), current, generated, identity)
    labels = [read_credentials(current).manifest.label]
    for step, tool in enumerate(("cleanup", "deage", "regrain"), start=1):
        facts = CredentialFacts(
            kind="edited",
            tool=Tool(name=tool, version=f"{step}.0"),
            governance=generated.governance.model_copy(update={"request_id": f"req_{step}"}),
            source=current,
        )
        following = tmp_path / f"step{step}.png"
        labels.append(sign_asset(current, following, facts, identity).manifest_label)
        current = following

    report = read_credentials(current, trust=TrustAnchors.studio(studio))

    assert report.state == "Trusted"
    assert len(report.store["manifests"]) == 4
    assert [m.label for m in (report.manifest, *report.ancestors)] == labels[::-1]
    assert [m.governance.request_id for m in report.ancestors if m.governance] == [
        "req_2",
        "req_1",
        "req_01J9Z8",
    ]
    assert report.ancestors[-1].actions[0].action == "c2pa.created"
    assert [a.software_agent for m in report.ancestors[:-1] for a in m.actions][1::2] == [
        "deage 2.0",
        "cleanup 1.0",
    ]


def test_an_edited_subtitle_keeps_the_sidecar_credentials_of_its_source(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    first = tmp_path / "mt.es.srt"
    first_label = sign_asset(make_srt(tmp_path / "raw.srt"), first, generated, identity)
    facts = CredentialFacts(
        kind="edited",
        tool=Tool(name="subtitle-fixer", version="0.9"),
        governance=generated.governance,
        source=first,
    )
    second = tmp_path / "mt.es.fixed.srt"

    sign_asset(first, second, facts, identity)

    report = read_credentials(second, trust=TrustAnchors.studio(studio))
    assert report.state == "Trusted"
    assert [m.label for m in report.ancestors] == [first_label.manifest_label]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".wav", ".mp4", ".m4a"])
def test_one_changed_byte_makes_the_credential_invalid(
    suffix: str,
    tmp_path: Path,
    studio: Settings,
    identity: SigningIdentity,
    generated: CredentialFacts,
) -> None:
    dst = tmp_path / f"delivered{suffix}"
    sign_asset(MEDIA[suffix](tmp_path / f"raw{suffix}"), dst, generated, identity)
    data = dst.read_bytes()
    # A byte of the picture or sound itself, well away from the manifest.
    payload = data.rfind(b"mdat") + 16 if suffix in (".mp4", ".m4a") else len(data) - 20
    _flip(dst, payload)

    report = read_credentials(dst, trust=TrustAnchors.studio(studio))

    assert report.state == "Invalid"
    assert any(note.code.endswith(".mismatch") for note in report.failures)
    with refused("provenance.tampered", ProvenanceError):
        report.require_trusted()


def test_a_changed_subtitle_no_longer_matches_its_sidecar(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    dst = tmp_path / "dub.fr.srt"
    sign_asset(make_srt(tmp_path / "raw.srt"), dst, generated, identity)
    dst.write_text(dst.read_text().replace("lighthouse", "lightship"))

    report = read_credentials(dst, trust=TrustAnchors.studio(studio))

    assert report.state == "Invalid"
    assert "assertion.dataHash.mismatch" in {n.code for n in report.failures}
    assert report.problem() is not None
    assert report.problem().code == "provenance.tampered"  # type: ignore[union-attr]


def test_a_subtitle_without_its_sidecar_has_no_credentials(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    dst = tmp_path / "dub.fr.vtt"
    signed = sign_asset(MEDIA[".vtt"](tmp_path / "raw.vtt"), dst, generated, identity)
    assert signed.sidecar is not None
    signed.sidecar.unlink()

    with refused("provenance.no_credentials", ProvenanceError):
        read_credentials(dst, trust=TrustAnchors.studio(studio))


def test_signing_in_place_replaces_the_file_with_its_signed_version(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    frame = make_image(tmp_path / "frame.jpg")
    sign_asset(frame, frame, generated, identity)

    assert read_credentials(frame, trust=TrustAnchors.studio(studio)).state == "Trusted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "frame.jpg"]


def test_a_truncated_file_is_refused_and_nothing_is_written(
    tmp_path: Path, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    src = make_image(tmp_path / "frame.png")
    src.write_bytes(src.read_bytes()[:200])
    out = tmp_path / "out"
    out.mkdir()
    (out / "frame.png").write_bytes(b"previous delivery")

    with pytest.raises(ProvenanceError) as caught:
        sign_asset(src, out / "frame.png", generated, identity)

    assert caught.value.code == "provenance.corrupt_file"
    assert [p.name for p in out.iterdir()] == ["frame.png"], "no temporary file left behind"
    assert (out / "frame.png").read_bytes() == b"previous delivery"


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty.wav"),
        (b"\xff\xd8\xff\xe0 this is a jpeg", "misnamed.png"),
        (b"not a movie at all", "clip.mp4"),
    ],
)
def test_a_corrupt_file_is_refused_with_a_clear_error(
    content: bytes,
    name: str,
    tmp_path: Path,
    identity: SigningIdentity,
    generated: CredentialFacts,
) -> None:
    src = tmp_path / name
    src.write_bytes(content)

    with refused("provenance.corrupt_file", ProvenanceError):
        sign_asset(src, tmp_path / f"signed-{name}", generated, identity)
    with refused("provenance.corrupt_file", ProvenanceError):
        read_credentials(src)


def test_a_truncated_signed_file_cannot_be_read(
    tmp_path: Path, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    dst = tmp_path / "frame.png"
    sign_asset(make_image(tmp_path / "raw.png"), dst, generated, identity)
    dst.write_bytes(dst.read_bytes()[:-40])

    with refused("provenance.corrupt_file", ProvenanceError):
        read_credentials(dst)


def test_an_unsupported_type_is_refused_before_anything_happens(
    tmp_path: Path, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    src = tmp_path / "edit.otio"
    src.write_text("{}")

    with pytest.raises(ProvenanceError) as caught:
        sign_asset(src, tmp_path / "signed.otio", generated, identity)
    assert caught.value.code == "provenance.unsupported_type"
    assert ".png" in caught.value.message
    with refused("provenance.unsupported_type", ProvenanceError):
        read_credentials(src)


def test_a_file_without_credentials_says_so(tmp_path: Path) -> None:
    with refused("provenance.no_credentials", ProvenanceError):
        read_credentials(make_wav(tmp_path / "room_tone.wav"))


def test_signing_cannot_change_the_type_of_a_file(
    tmp_path: Path, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    with refused("provenance.type_mismatch", ProvenanceError):
        sign_asset(make_image(tmp_path / "a.png"), tmp_path / "a.jpg", generated, identity)


def test_facts_must_match_the_kind_of_work() -> None:
    governance = Governance(
        request_id="r",
        production="p",
        use_case="u",
        policy_decision_id="d",
        policy_version="1",
    )
    tool = Tool(name="t", version="1")
    with pytest.raises(ValueError, match="needs the source"):
        CredentialFacts(kind="edited", tool=tool, governance=governance)
    with pytest.raises(ValueError, match="has no source"):
        CredentialFacts(kind="generated", tool=tool, governance=governance, source=Path("p.png"))
    with pytest.raises(ValueError, match="never the prompt"):
        Governance.model_validate(
            governance.model_dump() | {"prompt_sha256": "a castle at dusk, volumetric fog"}
        )
    with pytest.raises(ValueError, match="constraint_info"):
        TrainingMining(ai_training="constrained")


def test_a_damaged_sidecar_is_reported_not_trusted(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    dst = tmp_path / "cues.json"
    signed = sign_asset(MEDIA[".json"](tmp_path / "raw.json"), dst, generated, identity)
    assert signed.sidecar is not None
    store = bytearray(signed.sidecar.read_bytes())
    store[len(store) // 2] ^= 0x01
    signed.sidecar.write_bytes(bytes(store))

    with refused("provenance.tampered", ProvenanceError):
        read_credentials(dst, trust=TrustAnchors.studio(studio)).require_trusted()


def test_a_sidecar_is_a_plain_c2pa_manifest_store_any_c2pa_reader_can_check(
    tmp_path: Path, studio: Settings, identity: SigningIdentity, generated: CredentialFacts
) -> None:
    import c2pa

    dst = tmp_path / "plate.exr"
    signed = sign_asset(MEDIA[".exr"](tmp_path / "raw.exr"), dst, generated, identity)
    assert signed.sidecar is not None
    anchors = (studio.keys_dir / "trust-anchor.pem").read_text()
    context = c2pa.Context.from_dict({"trust": {"user_anchors": anchors}})

    with (
        dst.open("rb") as stream,
        c2pa.Reader("image/x-exr", stream, signed.sidecar.read_bytes(), context=context) as r,
    ):
        store = json.loads(r.json())

    assert store["validation_state"] == "Trusted"
    assertions = store["manifests"][store["active_manifest"]]["assertions"]
    assert GOVERNANCE_LABEL in {a["label"] for a in assertions}
