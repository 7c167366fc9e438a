"""The autoregressive sequence model (Transformer or GRU) on text: each symbol scored once with
enough history, cached sampling equal to the full forward pass, and its training windows. With
the other sequence models: test_text.py and test_music.py."""

import pytest
import torch

from genlab.errors import TooShort
from genlab.models.ar import AutoRegressive

TINY_AR = dict(context=6, layers=2, width=16, heads=2, dropout=0.0)


def test_ar_scores_every_symbol_once_with_at_least_half_a_window_of_history():
    m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "context": 8}), (), 5).eval()
    x, history = torch.randint(0, 5, (37,)), torch.randint(0, 5, (20,))
    stream = m.log_prob_stream(x, history)
    assert stream.shape == (37,) and torch.isfinite(stream).all()
    seq = torch.cat([history, x])
    for t in (0, 5, 36):  # each with exactly the history its window gives it (4 to 7 symbols)
        p = len(history) + t
        full = [m.next_log_probs(torch.cat([torch.full((7 - k,), -1), seq[p - k : p]]).unsqueeze(0))[0, seq[p]].item()
                for k in range(4, 8)]
        assert any(stream[t].item() == pytest.approx(f, abs=1e-5) for f in full)


def test_ar_sampling_with_a_cache_matches_the_full_forward_pass():
    for arch in ("transformer", "gru"):
        m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "arch": arch, "context": 16}), (), 7).eval()
        tokens = torch.randint(0, 7, (3, 10))
        tokens[:, 0] = m.bos
        full, _ = m.net(tokens)
        logits, state = m.net(tokens[:, :4], cached=True)
        steps = [logits]
        for t in range(4, 10):
            logits, state = m.net(tokens[:, t : t + 1], state, cached=True)
            steps.append(logits)
        assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5), arch


def test_ar_on_a_text_shorter_than_its_context_is_too_short():
    m = AutoRegressive(AutoRegressive.Params(context=64), (), 5)
    with pytest.raises(TooShort, match="fewer than ar.context"):
        m.training_batches(torch.zeros(30, dtype=torch.long), torch.zeros(10, dtype=torch.long))


def test_ar_windows_move_every_epoch_and_stay_inside_the_text():
    m = AutoRegressive(AutoRegressive.Params(**TINY_AR), (), 5)
    train = torch.arange(50) % 5
    offsets, val, cut = m.training_batches(train, torch.arange(20) % 5)
    assert val.shape == (3, 6)  # the validation text in whole windows
    a = cut((offsets,), torch.Generator().manual_seed(0))[0]
    b = cut((offsets,), torch.Generator().manual_seed(1))[0]
    assert a.shape == (len(offsets), 6) and not torch.equal(a, b)
    assert all(torch.equal(w, (torch.arange(w[0], w[0] + 6)) % 5) for w in a)  # contiguous pieces of the text
