"""Building GLiNER models with untrained heads from a local backbone, without network access.

Such a model predicts nothing useful, but it loads through ``GLiNER.from_pretrained``
like a published one and runs at the same speed as a trained model of the same
dimensions. Tests use it to exercise the loading, windowing and batching code;
``benchmarks/redaction.py`` uses it to measure speed.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from mesh_agents.errors import MissingExtraError

__all__ = ["build_random_gliner", "write_random_deberta_backbone"]

logger = logging.getLogger(__name__)

#: Encoder dimensions of mDeBERTa-v3-base, the backbone of ``urchade/gliner_multi_pii-v1``.
MDEBERTA_V3_BASE: dict[str, Any] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "vocab_size": 251_000,
    "max_position_embeddings": 512,
    "relative_attention": True,
    "position_buckets": 256,
    "max_relative_positions": -1,
    "pos_att_type": ["p2c", "c2p"],
    "norm_rel_ebd": "layer_norm",
    "share_att_key": True,
    "position_biased_input": False,
    "type_vocab_size": 0,
}


def build_random_gliner(backbone: str | Path, folder: str | Path, **config: Any) -> Path:
    """Build a GLiNER model on the local ``backbone`` folder and save it to ``folder``.

    Args:
        backbone: A local Hugging Face model folder (config, weights, tokenizer).
        folder: Where to save the GLiNER model.
        config: Extra ``GLiNERConfig`` fields, such as ``max_width`` or ``hidden_size``.

    Returns:
        ``folder``, loadable with ``GLiNER.from_pretrained(folder)``.
    """
    try:
        from gliner import GLiNER, GLiNERConfig
    except ImportError as exc:
        raise MissingExtraError("gliner", "gliner") from exc
    settings = {"max_width": 12, "max_len": 384, "span_mode": "markerV0"} | config
    gliner_config = GLiNERConfig(model_name=str(backbone), **settings)
    model = GLiNER.from_config(gliner_config, backbone_from_pretrained=True, local_files_only=True)
    model.save_pretrained(str(folder))
    logger.info("saved a GLiNER model with untrained heads to %s", folder)
    return Path(folder)


def write_random_deberta_backbone(folder: str | Path, tokenizer_folder: str | Path, **dimensions: Any) -> Path:
    """Save a randomly initialised DeBERTa-v2 encoder with the tokenizer of ``tokenizer_folder``.

    The dimensions default to ``MDEBERTA_V3_BASE``. The tokenizer is borrowed because
    mDeBERTa's own SentencePiece model cannot be downloaded here, so token counts per
    text differ somewhat from the real model's.
    """
    from transformers import DebertaV2Config, DebertaV2Model

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    config = DebertaV2Config(**(MDEBERTA_V3_BASE | dimensions))
    DebertaV2Model(config).save_pretrained(str(target))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        source = Path(tokenizer_folder) / name
        if source.is_file():
            shutil.copy(source, target / name)
    return target
