"""Data machinery shared by every dataset: tokens, vocabulary, features, caption batches."""
