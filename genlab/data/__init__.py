"""Data: the kinds of data (modality), their readers and splits (sources, examples, text, music, midi), noise (binarize, dequantize), the prepared arrays (prepare) and pictures of data (images)."""
