"""``convseq predict | evaluate`` for runs that classify cases (``use.py`` hands them here)."""

from __future__ import annotations

from convseq.evaluation.classification import per_class_table


def predict_cases(args, classifier) -> list[dict]:
    """One row per case of INPUT: its number (from 1), label and probability."""
    predictions = classifier.predict(classifier.read(args.input, encoding=args.encoding),
                                     batch_size=args.batch_size)  # fmt: skip
    return [
        {"case": i, "label": p.label, "probability": round(p.probability, 6)}
        for i, p in enumerate(predictions, start=1)
    ]


def evaluate_cases(args, classifier) -> dict:
    """Scores on the labelled cases of DATA, printed beside the majority class."""
    scores = classifier.evaluate(classifier.read(args.data, encoding=args.encoding))
    loss = f"loss {scores['loss']:.4f}, " if "loss" in scores else ""
    print(
        f"{args.data}: {scores['cases']} cases: {loss}acc {scores['acc']:.4f}, macro-F1 "
        f"{scores['macro_f1']:.4f} | majority-class baseline ({scores['baseline_class']!r}): acc "
        f"{scores['baseline_acc']:.4f}, macro-F1 {scores['baseline_macro_f1']:.4f}"
    )
    print(per_class_table(scores["per_class"]))
    return scores
