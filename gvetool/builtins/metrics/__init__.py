"""Built-in metric plugins: the caption metrics, the GVE paper's class relevance, the
independent judge, explanation accuracy and repetition.

This module is what the ``metrics`` entry point names, and the one place in gvetool where
a metric's name, its numbers and their meanings are declared; everything else asks the
registry. Registration order is the order of defaults and table columns.
"""

from gvetool.kernel.hookspecs import hookimpl
from gvetool.kernel.specs import MetricSpec

CAPTIONS = "gvetool.builtins.metrics.captions"
CLASSES = "gvetool.builtins.metrics.classes"


@hookimpl
def gvetool_register_metrics(register):
    register(
        MetricSpec(
            name="bleu",
            description="BLEU-1..4 (pycocoevalcap)",
            target=f"{CAPTIONS}:Bleu",
            keys=("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"),
            best="BLEU-4",
            validation=True,
            table=(),
        )
    )
    register(
        MetricSpec(
            name="meteor",
            description="METEOR (pycocoevalcap; needs Java)",
            target=f"{CAPTIONS}:Meteor",
            needs=frozenset({"references", "java"}),
            keys=("METEOR",),
            best="METEOR",
            validation=True,
            table=("METEOR",),
        )
    )
    register(
        MetricSpec(
            name="rouge",
            description="ROUGE-L (pycocoevalcap)",
            target=f"{CAPTIONS}:Rouge",
            keys=("ROUGE-L",),
            best="ROUGE-L",
            validation=True,
            table=(),
        )
    )
    register(
        MetricSpec(
            name="cider",
            description="CIDEr-D (pycocoevalcap); picks best.pt, as the original",
            target=f"{CAPTIONS}:Cider",
            keys=("CIDEr",),
            best="CIDEr",
            best_priority=1,
            validation=True,
            table=("CIDEr",),
        )
    )
    register(
        MetricSpec(
            name="spice",
            description="SPICE (pycocoevalcap; needs Java and CoreNLP models)",
            target=f"{CAPTIONS}:Spice",
            needs=frozenset({"references", "java"}),
            keys=("SPICE",),
            best="SPICE",
            table=(),
        )
    )
    register(
        MetricSpec(
            name="relevance",
            description="class similarity and class rank (GVE paper)",
            target=f"{CLASSES}:ClassRelevance",
            needs=frozenset({"classes", "training"}),
            keys=("class_similarity", "class_rank", "class_rank_top1"),
            table=("class_similarity", "class_rank"),
            headers={"class_similarity": "class sim.", "class_rank": "class rank"},
            meanings={
                "class_similarity": "CIDEr-D of the sentence against its class's training "
                "references",
                "class_rank": "rank of the true class by that similarity (1 is best)",
            },
        )
    )
    register(
        MetricSpec(
            name="judge",
            description="top-1/5 of an independent TF-IDF + logistic-regression judge",
            target=f"{CLASSES}:Judge",
            needs=frozenset({"classes", "training"}),
            keys=("judge_top1", "judge_top5"),
            table=("judge_top1",),
            headers={"judge_top1": "judge top-1"},
            meanings={
                "judge_top1": "accuracy of an independent TF-IDF + logistic-regression "
                "judge no model was trained against"
            },
        )
    )
    register(
        MetricSpec(
            name="explanation",
            description="top-1/5 of the sentence classifier (GVE's reward)",
            target=f"{CLASSES}:ExplanationAccuracy",
            needs=frozenset({"classes", "classifier"}),
            keys=("explanation_top1", "explanation_top5"),
            table=("explanation_top1",),
            headers={"explanation_top1": "SC top-1"},
            meanings={
                "explanation_top1": "accuracy of the sentence classifier GVE is rewarded "
                "by (flatters GVE)"
            },
        )
    )
    register(
        MetricSpec(
            name="repetition",
            description="sentences that repeat a phrase; distinct sentences; mean length",
            target=f"{CLASSES}:Repetition",
            needs=frozenset(),
            keys=("repeated_trigram_share", "distinct_sentences", "mean_sentence_length"),
            table=("repeated_trigram_share", "distinct_sentences"),
            headers={"repeated_trigram_share": "repeats", "distinct_sentences": "distinct"},
            meanings={
                "repeated_trigram_share": "share of sentences repeating a word trigram "
                "(degenerate REINFORCE repeats a phrase the classifier likes; marked 'repeats' "
                "in the examples)",
                "distinct_sentences": "distinct sentences per image (1: every image its own)",
                "mean_sentence_length": "words per sentence (the end token not counted)",
            },
        )
    )
