"""Caption batches: what the models receive, built with vectorised gathers."""

from __future__ import annotations

import numpy as np
from torch.utils.data import DataLoader

from gvetool.builtins.datasets import cub
from gvetool.data.captions import CaptionExamples, ImageExamples, whole_batches
from gvetool.data.features import open_precomputed
from gvetool.data.vocab import Vocabulary
from gvetool.utils.safe_pickle import load_pickle


def _setup(root):
    corpus = cub.open_cub(root)
    vocab = Vocabulary.build(corpus.split("train").all_captions())
    return corpus, vocab, open_precomputed(corpus)


def test_caption_batch_matches_the_captions_features_and_classes(tiny_cub_master):
    corpus, vocab, store = _setup(tiny_cub_master)
    train = corpus.split("train")
    examples = CaptionExamples(train, vocab, store)
    assert len(examples) == train.num_captions
    features = load_pickle(tiny_cub_master / cub.FEATURES_FILE)
    flat = [(i, c) for i, caps in enumerate(train.captions) for c in caps]
    indices = [5, 0, 17, 3]
    batch = examples.__getitems__(indices)
    assert batch.tokens.shape[0] == 4 and batch.tokens.shape[1] == int(batch.lengths.max())
    for row, index in enumerate(indices):
        image, caption = flat[index]
        expected = vocab.encode(caption)
        length = int(batch.lengths[row])
        assert batch.tokens[row, :length].tolist() == expected
        assert batch.tokens[row, length:].eq(0).all()
        np.testing.assert_array_equal(batch.features[row].numpy(), features[train.image_ids[image]])
        assert int(batch.class_ids[row]) == train.class_ids[image]
        assert int(batch.image_index[row]) == image


def test_max_len_truncates_but_keeps_the_end_token(tiny_cub_master):
    corpus, vocab, store = _setup(tiny_cub_master)
    examples = CaptionExamples(corpus.split("train"), vocab, store, max_len=4)
    batch = examples.__getitems__(list(range(len(examples))))
    assert int(batch.lengths.max()) <= 4
    last = batch.tokens[np.arange(len(examples)), batch.lengths - 1]
    assert last.eq(vocab.end_id).all()


def test_dataloader_yields_whole_batches(tiny_cub_master):
    corpus, vocab, store = _setup(tiny_cub_master)
    examples = CaptionExamples(corpus.split("train"), vocab, store)
    loader = DataLoader(examples, batch_size=8, shuffle=True, collate_fn=whole_batches)
    sizes = [batch.features.shape for batch in loader]
    assert sum(s[0] for s in sizes) == len(examples) and sizes[0][1] == 16


def test_image_examples_give_one_row_per_image(tiny_cub_master):
    corpus, _, store = _setup(tiny_cub_master)
    test = corpus.split("test")
    images = ImageExamples(test, store)
    batch = images.__getitems__(list(range(len(images))))
    assert batch.features.shape == (len(test.image_ids), 16)
    assert batch.class_ids.tolist() == test.class_ids.tolist()


def test_a_split_forgets_its_tokens_and_reads_them_again_from_the_cache(tiny_cub):
    from gvetool.data.open import open_dataset

    split = open_dataset("cub", tiny_cub).split("train")
    tokens = split.tokens()
    split.forget_tokens()
    assert "_tokens" not in split.__dict__
    assert split.tokens() == tokens


def test_a_splits_tokens_grouped_by_image_follow_its_captions(tiny_cub_master):
    split = cub.open_cub(tiny_cub_master).split("train")
    grouped = split.tokens_by_image()
    assert [len(g) for g in grouped] == [len(c) for c in split.captions]
    assert [t for g in grouped for t in g] == split.tokens()
