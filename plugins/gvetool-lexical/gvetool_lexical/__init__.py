"""gvetool-lexical: how varied generated sentences are, with nothing to download.

Two metric plugins, registered through the ``gvetool`` entry point as any third-party
package would:

* ``lexical``: ``vocabulary_usage`` (distinct words over all sentences), ``distinct_1`` and
  ``distinct_2`` (distinct unigrams / bigrams over all unigrams / bigrams, Li et al. 2016)
  and ``mean_length`` (words per sentence). ``distinct_2`` can pick ``best.pt``
  (``--val-metrics lexical``).
* ``novelty``: ``novel_sentences``, the share of sentences that are no training caption
  word for word (a captioner that copies its training set scores 0).
"""

from gvetool.plugin_api import MetricSpec, hookimpl

__version__ = "0.1.0"


@hookimpl
def gvetool_register_metrics(register):
    register(
        MetricSpec(
            name="lexical",
            description="vocabulary usage, Distinct-1/2 and mean length of the sentences",
            target="gvetool_lexical.measures:Lexical",
            needs=frozenset(),
            keys=("vocabulary_usage", "distinct_1", "distinct_2", "mean_length"),
            best="distinct_2",
            table=("distinct_2",),
            headers={"distinct_2": "distinct-2"},
            meanings={
                "distinct_2": "distinct word bigrams over all bigrams of the sentences "
                "(higher: more varied)",
            },
        )
    )
    register(
        MetricSpec(
            name="novelty",
            description="share of sentences that are not a training caption",
            target="gvetool_lexical.measures:Novelty",
            needs=frozenset({"training"}),
            keys=("novel_sentences",),
            meanings={"novel_sentences": "share of sentences that are no training caption"},
        )
    )
