"""Settings of the redaction capability: a tenant's redaction policy."""

from __future__ import annotations

import enum
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["PATTERN_LABELS", "GlinerSettings", "RedactionAction", "RedactionSettings"]

#: Labels the validated pattern detector can find.
PATTERN_LABELS = ("email", "phone", "credit_card", "iban", "national_id", "ip_address", "secret")

DetectorName = Literal["patterns", "gliner"]


def _default_detectors() -> list[DetectorName]:
    return ["patterns"]


_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: Default regions for phone numbers written without a country code (ISO 3166-1 alpha-2).
DEFAULT_PHONE_REGIONS = ["US", "GB", "DE", "FR", "ES", "IT", "PT", "BR", "NL", "PL"]


class RedactionAction(enum.StrEnum):
    """Action taken on the entities of one label."""

    MASK = "mask"
    """Replace with a reversible placeholder such as ``<PERSON_1>``; restored in model output."""
    REDACT = "redact"
    """Replace with ``[PERSON]``; the value is not kept and cannot be restored."""
    HASH = "hash"
    """Replace with ``[PERSON:3f2a9c1b0d4e]``, a keyed hash that is the same for the same value."""
    BLOCK = "block"
    """Reject the whole request with ``RedactionBlocked``."""


class GlinerSettings(BaseModel):
    """Settings of the GLiNER detector."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="urchade/gliner_multi_pii-v1",
        description="Hugging Face id or local folder of the GLiNER model.",
    )
    labels: dict[str, str] = Field(
        default_factory=lambda: {
            "person": "person",
            "address": "street address",
            "date_of_birth": "date of birth",
            "passport": "passport number",
        },
        description="Entity label -> the natural-language prompt GLiNER is given for it.",
    )
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Minimum score, 0 to 1, for every label.")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-label minimum score, 0 to 1, overriding `threshold`."
    )
    window_words: int = Field(
        default=200, ge=8, description="Words per window; the model reads at most `max_len` (384) words."
    )
    overlap_words: int = Field(default=40, ge=0, description="Words shared by two neighbouring windows.")
    batch_size: int = Field(default=8, ge=1, description="Windows per model call.")
    device: str = Field(default="cpu", description="Torch device, such as 'cpu' or 'cuda'.")

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            _check_label(label)
        return value

    @field_validator("thresholds")
    @classmethod
    def _check_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for label, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold {threshold} for label {label!r} is outside 0 to 1")
        return value

    def threshold_for(self, label: str) -> float:
        """Return the minimum score for ``label``."""
        return self.thresholds.get(label, self.threshold)


class RedactionSettings(BaseModel):
    """A tenant's redaction policy.

    Attributes:
        enabled: When false, text passes unmasked and nothing is restored.
        detectors: Detector families to run; ``gliner`` needs ``pip install 'mesh-agents[gliner]'``.
        labels: Labels to act on; ``None`` means every label the detectors find.
        default_action: Action for a label missing from ``actions``.
        actions: Action per label, such as ``{"secret": "block", "person": "mask"}``.
        phone_regions: Regions whose national phone formats are recognised; numbers with
            a ``+`` country code are recognised for every region.
        national_ids: Kinds of national id to look for, by python-stdnum module name
            (``"de.idnr"``, ``"nl.bsn"``); ``None`` means every supported kind.
        allow_list: Values that are never treated as personal data (compared without case),
            such as the tenant's own support address.
        allow_patterns: Regular expressions; a value that fully matches one is left alone.
        normalize_text: Let detectors read the text in NFKC form without zero-width and
            bidi control characters, so full-width or split values are found; the
            original characters are masked.
        detection_timeout_s: Maximum detection time per call, seconds; ``None`` waits without limit.
        fail_open: When detection raises or times out, let the text through unmasked
            instead of rejecting the request.
        vault_ttl_s: How long a session's placeholders stay restorable after last use, seconds.
        hash_key: Key of the keyed hash used by the ``hash`` action; without one the
            tenant id is the key, which does not stop guessing of short values.
        gliner: GLiNER detector settings.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    detectors: list[DetectorName] = Field(default_factory=_default_detectors)
    labels: list[str] | None = None
    default_action: RedactionAction = RedactionAction.MASK
    actions: dict[str, RedactionAction] = Field(default_factory=dict)
    phone_regions: list[str] = Field(default_factory=lambda: list(DEFAULT_PHONE_REGIONS))
    national_ids: list[str] | None = None
    allow_list: list[str] = Field(default_factory=list)
    allow_patterns: list[str] = Field(default_factory=list)
    normalize_text: bool = Field(default=True, description="Detect on the NFKC text without invisible characters.")
    detection_timeout_s: float | None = Field(default=10.0, gt=0, description="Seconds per detection call.")
    fail_open: bool = Field(default=False, description="Let the request through unmasked when detection fails.")
    vault_ttl_s: int = Field(default=86_400, ge=1, description="Vault entry lifetime after last use, seconds.")
    hash_key: SecretStr | None = None
    gliner: GlinerSettings = Field(default_factory=GlinerSettings)

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: list[str] | None) -> list[str] | None:
        for label in value or ():
            _check_label(label)
        return value

    @field_validator("actions")
    @classmethod
    def _check_action_labels(cls, value: dict[str, RedactionAction]) -> dict[str, RedactionAction]:
        for label in value:
            _check_label(label)
        return value

    @field_validator("phone_regions")
    @classmethod
    def _check_regions(cls, value: list[str]) -> list[str]:
        import phonenumbers

        supported = phonenumbers.SUPPORTED_REGIONS
        upper = [region.upper() for region in value]
        for region in upper:
            if region not in supported:
                raise ValueError(f"unknown phone region {region!r}: use an ISO 3166-1 alpha-2 code such as 'DE'")
        return upper

    @field_validator("national_ids")
    @classmethod
    def _check_national_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        from mesh_agents.redaction.national_ids import KINDS

        supported = sorted({kind.name for kind in KINDS})
        for name in value:
            if name not in supported:
                raise ValueError(f"unknown national id kind {name!r}: use one of {', '.join(supported)}")
        return value

    @field_validator("allow_patterns")
    @classmethod
    def _check_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid allow pattern {pattern!r}: {exc}") from exc
        return value

    def action_for(self, label: str) -> RedactionAction:
        """Return the action for entities of ``label``."""
        return self.actions.get(label, self.default_action)


def _check_label(label: str) -> None:
    if not _LABEL.match(label):
        raise ValueError(
            f"invalid label {label!r}: use 1 to 40 lower-case letters, digits or '_', starting with a letter"
        )
