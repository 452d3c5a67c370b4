"""Train the linear head of the embedding injection classifier.

Run ``python scripts/train_injection_classifier.py tests/data/guardrails/dev.jsonl`` (or
``python -m mesh_agents.guardrails.train``). Training is deterministic for a given data
file and vectorizer:

1. Take the ``train`` part of the stratified split (``evaluation.split_records``).
2. Embed every window of every training text (after the same normalisation the
   guardrail applies). Benign texts contribute all their windows; an injection
   contributes all windows when it is short, but a long injection (an attack hidden in
   the middle of a page) contributes only its most suspicious window according to a
   first model fitted without long injections, since its other windows are benign.
3. Fit an L2-regularised logistic regression with balanced class weights.
4. Set the threshold from 5-fold cross-validated probabilities on the training part:
   the smallest value above every benign probability, plus a margin, so the head alone
   flags no benign training text it has not seen.

scikit-learn is needed only here, not at inference time.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mesh_agents.embeddings import Vectorizer, default_vectorizer
from mesh_agents.guardrails.classifier import LinearHead, windows
from mesh_agents.guardrails.evaluation import Record, load_records, split_records, text_digest
from mesh_agents.guardrails.normalize import views

__all__ = ["classifier_text", "main", "train_head"]

logger = logging.getLogger(__name__)

WINDOW_CHARS = 500
WINDOW_STRIDE = 250
REGULARISATION_C = 4.0
THRESHOLD_MARGIN = 0.02
SEED = 0


def classifier_text(text: str) -> str:
    """The form of ``text`` the classifier sees: invisible characters removed, compatibility forms folded."""
    return views(text, max_blobs=0)[0].text


def train_head(
    records: Sequence[Record], vectorizer: Vectorizer, *, c: float = REGULARISATION_C, data_name: str = ""
) -> LinearHead:
    """Fit a head on ``records`` (all of them; split beforehand) and return it."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dev dependency
        raise SystemExit("training needs scikit-learn: pip install scikit-learn") from exc

    texts = [classifier_text(record.text) for record in records]
    labels = np.array([record.injection for record in records])
    spans = [windows(text, WINDOW_CHARS, WINDOW_STRIDE) for text in texts]
    chunks = [text[start:end] for text, text_spans in zip(texts, spans, strict=True) for start, end in text_spans]
    owners = np.array([index for index, text_spans in enumerate(spans) for _ in text_spans])
    vectors = vectorizer.embed(chunks)

    def fit(rows: npt.NDArray[np.bool_], y: npt.NDArray[np.bool_]) -> Any:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=SEED)
        return model.fit(vectors[rows], y)

    def rows_for(
        members: npt.NDArray[np.int_], first: Any | None
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Select window rows of ``members``: all of them, except the best one only for long injections."""
        keep = np.zeros(len(chunks), dtype=bool)
        for member in members:
            member_rows = np.flatnonzero(owners == member)
            if labels[member] and len(member_rows) > 1:
                if first is None:
                    continue
                probabilities = first.predict_proba(vectors[member_rows])[:, 1]
                keep[member_rows[int(np.argmax(probabilities))]] = True
            else:
                keep[member_rows] = True
        return keep, labels[owners[keep]]

    def fit_two_stage(members: npt.NDArray[np.int_]) -> Any:
        first = fit(*rows_for(members, None))
        return fit(*rows_for(members, first))

    def record_probabilities(model: Any, members: npt.NDArray[np.int_]) -> npt.NDArray[np.float64]:
        result = np.zeros(len(members))
        for position, member in enumerate(members):
            result[position] = model.predict_proba(vectors[owners == member])[:, 1].max()
        return result

    # Threshold from out-of-fold probabilities, so it reflects texts the head has not seen.
    everyone = np.arange(len(records))
    out_of_fold = np.zeros(len(records))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for train_index, test_index in folds.split(everyone, labels):
        model = fit_two_stage(train_index)
        out_of_fold[test_index] = record_probabilities(model, test_index)
    benign_max = float(out_of_fold[~labels].max()) if (~labels).any() else 0.5
    threshold = min(benign_max + THRESHOLD_MARGIN, 0.99)
    recall = float((out_of_fold[labels] >= threshold).mean()) if labels.any() else 0.0

    final = fit_two_stage(everyone)
    logger.info(
        "trained head on %d records; threshold %.3f, cross-validated recall %.3f", len(records), threshold, recall
    )
    return LinearHead(
        coef=final.coef_[0].astype(np.float32),
        intercept=float(final.intercept_[0]),
        threshold=threshold,
        vectorizer=vectorizer.name,
        window_chars=WINDOW_CHARS,
        window_stride=WINDOW_STRIDE,
        train_digests=frozenset(text_digest(record.text) for record in records),
        metadata={
            "data": data_name,
            "records": len(records),
            "injections": int(labels.sum()),
            "windows": len(chunks),
            "C": c,
            "split": "train half of each kind, ordered by sha256(id)",
            "cv_recall_at_threshold": round(recall, 4),
            "cv_benign_max_probability": round(benign_max, 4),
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train the injection classifier head on the train part of a data file."
    )
    parser.add_argument("data", type=Path, help="JSON-lines file of labelled texts (id, text, label, kind).")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "data" / "injection_head.npz",
        help="Where to write the head (default: the file shipped in the package).",
    )
    parser.add_argument("-C", type=float, default=REGULARISATION_C, help="Inverse L2 regularisation strength.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    records = split_records(load_records(args.data), "train")
    head = train_head(records, default_vectorizer(), c=args.C, data_name=args.data.name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    head.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), threshold {head.threshold:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
