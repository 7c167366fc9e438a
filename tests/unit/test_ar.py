"""The autoregressive sequence model (Transformer or GRU) on text: one stream scored and sampled
with no restarts, equal to a full pass over the sequence, draws made from the probabilities the
scoring pass gives, bf16 training, and its training windows. With
the other sequence models: test_text.py and test_music.py."""

import pytest
import torch

from genlab.errors import TooShort
from genlab.models.ar import AutoRegressive

TINY_AR = dict(context=6, layers=2, width=16, heads=2, dropout=0.0)


def band_forward(m: AutoRegressive, x: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """log p of every symbol of x from one full forward pass over [BOS, history, x] (the band of
    ``span`` applied as a mask), the definition the stream computes a window at a time."""
    seq = torch.cat([torch.tensor([m.bos]), history[-m.history:], x])
    logits = m.net(seq[:-1].unsqueeze(0))[0].double().log_softmax(-1)
    return logits[-len(x):].gather(1, x.unsqueeze(1)).squeeze(1)


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_ar_scores_a_long_text_as_one_stream_with_no_restarts(arch):
    """37 symbols after 20 of history, context 8, span 4: the windowed stream (the ring of the last
    `span` keys, or the GRU's state carried) equals one pass over the whole sequence."""
    m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "arch": arch, "context": 8, "span": 4}), (), 5).eval()
    x, history = torch.randint(0, 5, (37,)), torch.randint(0, 5, (20,))
    stream = m.log_prob_stream(x, history)
    assert stream.shape == (37,) and stream.dtype == torch.float64
    with torch.no_grad():
        assert torch.allclose(stream, band_forward(m, x, history), atol=1e-5)


def test_the_span_is_what_the_transformer_sees():
    """A symbol further back than layers * (span - 1) changes nothing; one within the span does."""
    m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "context": 16, "span": 3}), (), 5).eval()  # 2 layers: sees 4 back
    x = torch.randint(0, 5, (12,))
    changed_far, changed_near = x.clone(), x.clone()
    changed_far[2] = (x[2] + 1) % 5  # 9 before the last symbol
    changed_near[9] = (x[9] + 1) % 5  # 2 before it
    last = lambda seq: m.log_prob_stream(seq, torch.zeros(0, dtype=torch.long))[-1]
    assert last(changed_far) == pytest.approx(last(x).item(), abs=1e-6)
    assert last(changed_near) != pytest.approx(last(x).item(), abs=1e-6)


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_ar_stream_in_any_chunks_equals_the_full_pass(arch):
    m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "arch": arch, "context": 16, "span": 4, "layers": 3}), (), 7).eval()
    tokens = torch.randint(0, 8, (2, 30))
    with torch.no_grad():
        full = m.net(tokens)
        for sizes in ([30], [1] * 30, [5, 1, 1, 7, 16], [3, 9, 18]):
            state, outs, a = None, [], 0
            for k in sizes:
                logits, state = m.net.stream(tokens[:, a : a + k], state)
                outs.append(logits)
                a += k
            assert torch.allclose(torch.cat(outs, 1), full, atol=1e-5), (arch, sizes)


def mixed(weight: float | None = 0.3, **params) -> AutoRegressive:
    """A tiny ar with an order-2 chain mixed in (fit on a random text), at ``weight`` (None: fit on validation)."""
    m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "ngram": 2, **params}), (), 7)
    gen = torch.Generator().manual_seed(0)
    m.finish_fit(torch.randint(0, 6, (400,), generator=gen), torch.randint(0, 6, (60,), generator=gen))
    if weight is not None:
        m.chain_weight.fill_(weight)
    return m.eval()


@pytest.mark.parametrize("arch,ngram", [("transformer", 0), ("gru", 0), ("transformer", 2)])
def test_every_drawn_symbol_has_the_probability_the_scoring_pass_gives_it(arch, ngram, monkeypatch):
    """40 symbols after an 11-symbol prompt (context 8, span 4: far past both), 3 samples: the
    log-probability each draw was made from equals `log_prob_stream` of the finished sample (with
    a chain mixed in, too)."""
    import genlab.models.ar as ar_module

    params = {"arch": arch, "context": 8, "span": 4}
    m = mixed(**params) if ngram else AutoRegressive(AutoRegressive.Params(**{**TINY_AR, **params}), (), 7).eval()
    seen, draw = [], ar_module.draw

    def recording(log_probs, generator, temperature=1.0):
        out = draw(log_probs, generator, temperature)
        seen.append(log_probs.double().gather(1, out.unsqueeze(1)).squeeze(1))
        return out

    monkeypatch.setattr(ar_module, "draw", recording)
    prompt = torch.randint(0, 6, (11,))
    s = m.sample_stream(3, 40, torch.Generator().manual_seed(1), prompt=prompt)
    scored = torch.stack([m.log_prob_stream(row, prompt) for row in s])
    assert torch.allclose(torch.stack(seen, 1), scored, atol=1e-5)
    monkeypatch.setattr(ar_module, "draw", draw)
    again = m.sample_stream(3, 40, torch.Generator().manual_seed(1), prompt=prompt)
    assert torch.equal(s, again)  # seeded reruns: the same draws


def test_ar_decodes_many_rows_in_groups_with_the_same_distribution(monkeypatch):
    """More rows than DECODE_ROWS are drawn in groups; each group still draws from the stream."""
    m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "context": 8, "span": 4}), (), 5).eval()
    monkeypatch.setattr(AutoRegressive, "DECODE_ROWS", 2)
    s = m.sample_stream(5, 12, torch.Generator().manual_seed(0))
    assert s.shape == (5, 12) and torch.equal(s, m.sample_stream(5, 12, torch.Generator().manual_seed(0)))


def test_ar_span_and_heads_are_checked():
    from genlab.errors import GenlabError

    with pytest.raises(GenlabError, match="ar.span: 9 is longer than ar.context 8"):
        AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "context": 8, "span": 9}), (), 5)
    with pytest.raises(GenlabError, match="width / heads = 3 is odd"):
        AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "width": 12, "heads": 4}), (), 5)
    assert AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "context": 9}), (), 5).net.span == 4  # null: context // 2


def test_bf16_training_steps_leave_scoring_in_float64(monkeypatch):
    """train_dtype bfloat16: the step runs under autocast; scoring afterwards is float64 from float32
    weights. auto resolves by what the device multiplies in hardware."""
    m = AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "train_dtype": "bfloat16"}), (), 5)
    (opt,) = m.make_optimizers()
    seen = []
    real = m.loss

    def loss(windows):
        seen.append(torch.is_autocast_enabled("cpu"))
        return real(windows)

    monkeypatch.setattr(m, "loss", loss)
    out = m.train_step((torch.randint(0, 4, (3, 6)),), [opt])
    assert seen == [True] and torch.isfinite(out["loss"])
    assert all(p.dtype == torch.float32 for p in m.parameters())
    assert m.eval().log_prob_stream(torch.tensor([1, 2, 3]), torch.zeros(0, dtype=torch.long)).dtype == torch.float64
    auto = lambda: AutoRegressive(AutoRegressive.Params(**{**TINY_AR, "train_dtype": "auto"}), (), 5).train_dtype()
    for amx, avx512_bf16, want in [(False, False, torch.float32), (True, False, torch.bfloat16), (False, True, torch.bfloat16)]:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
        assert auto() == want, (amx, avx512_bf16)
    assert AutoRegressive(AutoRegressive.Params(**TINY_AR), (), 5).train_dtype() == torch.float32  # the default


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


def test_the_keys_head_decides_each_key_from_the_keys_below_it_only():
    """FrameHead (MADE): key k's logit changes with keys below k and with none at or above it;
    the 2^6 frames of 6 keys sum to one given any condition; samples follow those probabilities."""
    from genlab.nn.sequence import FrameHead

    torch.manual_seed(0)
    head = FrameHead(6, 5, 16)
    for p in head.parameters():  # weights large enough that every connection shows
        torch.nn.init.normal_(p)
    c, x = torch.randn(1, 5), torch.randint(0, 2, (1, 6)).float()
    base = head.logits(c, x)
    for j in range(6):
        flipped = x.clone()
        flipped[0, j] = 1 - flipped[0, j]
        changed = (head.logits(c, flipped) - base).abs()[0] > 1e-6
        assert not changed[: j + 1].any(), j  # keys up to j never see key j
        assert changed[j + 1 :].all(), j  # every later key does (dense weights)
    frames = torch.tensor([[(i >> k) & 1 for k in range(6)] for i in range(64)])
    p = head.log_prob(c.expand(64, -1), frames).exp()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-9)
    draws = head.sample(c.expand(20000, -1), torch.Generator().manual_seed(0))
    index = (draws.long() * (2 ** torch.arange(6))).sum(1)
    freq = torch.bincount(index, minlength=64).double() / 20000
    assert (freq - p).abs().max() < 4 * (p * (1 - p) / 20000).sqrt().max() + 1e-3


def test_dropout_zeroes_its_share_and_scales_the_rest():
    """The CPU mask: 16 random bits an element, p = 0.2 rounded to 13,107 / 65,536; the kept
    elements scaled by 65,536 / 52,429, the gradient the same mask; seeded draws repeat; eval mode
    and p = 0 pass the input through."""
    from genlab.nn.sequence import Dropout, dropout

    x = torch.ones(1000, 301, requires_grad=True)
    torch.manual_seed(0)
    y = dropout(x, 0.2, True)
    kept = y != 0
    assert torch.all(y[kept] == 65536 / 52429)
    share = 1 - kept.double().mean().item()
    assert abs(share - 13107 / 65536) < 4 * (0.2 * 0.8 / x.numel()) ** 0.5  # 4 standard errors
    assert abs(kept[:, 0].double().mean().item() - 0.8) < 0.06 and abs(kept[0].double().mean().item() - 0.8) < 0.12
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(x * mask * scale)/dx = mask * scale
    torch.manual_seed(0)
    assert torch.equal(dropout(x, 0.2, True), y)
    assert dropout(x, 0.2, False) is x and dropout(x, 0.0, True) is x
    layer = Dropout(0.5).eval()
    assert layer(x) is x and "p=0.5" in repr(layer)
    assert dropout(torch.ones(7, dtype=torch.bfloat16), 0.5, True).dtype == torch.bfloat16
    assert torch.isfinite(dropout(x, 0.999999, True)).all()  # rounds to 65,535 / 65,536 dropped, never all


def test_attention_dropout_drops_weights_and_keeps_the_band():
    """Training with dropout, the attention weights are dropped (a seeded pass differs from the
    pass without dropout and repeats itself); a key outside the span still changes nothing."""
    from genlab.nn.sequence import Attention

    torch.manual_seed(0)
    attn = Attention(16, 2, 0.5, span=3)
    x = torch.randn(2, 7, 16)
    torch.manual_seed(1)
    a = attn(x)
    torch.manual_seed(1)
    assert torch.equal(attn(x), a)
    attn.dropout = 0.0
    assert not torch.allclose(attn(x), a)
    attn.dropout = 0.5
    far = x.clone()
    far[:, 0] += 1.0  # the first position is outside the span of the last three queries
    torch.manual_seed(1)
    assert torch.equal(attn(far)[:, 3:], a[:, 3:])


def test_the_mixing_weight_is_the_one_that_fits_best():
    """Two symbols scored (0.8, 0.2) and (0.2, 0.4) by two models: log(0.2 + 0.6 w) + log(0.4 - 0.2 w)
    is highest where 0.6 / (0.2 + 0.6 w) = 0.2 / (0.4 - 0.2 w), at w = 0.2 / 0.24 = 5/6; a model
    better on every symbol takes all the weight."""
    from genlab.models.ar import mixing_weight

    a, b = torch.tensor([0.8, 0.2]).log(), torch.tensor([0.2, 0.4]).log()
    assert mixing_weight(a, b) == pytest.approx(5 / 6, abs=1e-6)
    assert mixing_weight(b, a) == pytest.approx(1 / 6, abs=1e-6)
    assert mixing_weight(torch.tensor([0.5, 0.4]).log(), torch.tensor([0.1, 0.2]).log()) > 0.999


def test_a_mixed_ar_scores_the_mixture_of_its_network_and_chain():
    """log_prob_stream is log(w p_net + (1 - w) p_chain) of the two streams; the weight fit on
    validation is the one mixing_weight picks from the two models' validation scores."""
    m = mixed(weight=None)
    assert 0 <= m.chain_weight.item() <= 1
    m.chain_weight.fill_(0.3)
    x, history = torch.randint(0, 6, (30,)), torch.randint(0, 6, (9,))
    net, chain = m.net_log_prob_stream(x, history), m.chain.log_prob_stream(x, history)
    expected = (0.3 * net.exp() + 0.7 * chain.exp()).log()
    assert torch.allclose(m.log_prob_stream(x, history), expected, atol=1e-12)
    unmixed = AutoRegressive(AutoRegressive.Params(**TINY_AR), (), 7)
    unmixed.load_state_dict({k: v for k, v in m.state_dict().items() if not k.startswith("chain")})
    assert torch.allclose(unmixed.eval().log_prob_stream(x, history), net)


def test_a_mixed_ar_checkpoint_keeps_its_chain_and_weight(tmp_path):
    """Saved and loaded through the registry: the same scores; its size counts the chain's tables."""
    from genlab.metrics.cost import n_parameters
    from genlab.models import registry

    m = mixed(weight=0.4)
    registry.save(m, "ar", {"kind": "text", "n_levels": 7, "shape": []}, tmp_path / "model.pt")
    _, again = registry.load(tmp_path / "model.pt")
    x, history = torch.randint(0, 6, (20,)), torch.randint(0, 6, (5,))
    assert again.chain_weight.item() == 0.4
    assert torch.equal(again.log_prob_stream(x, history), m.log_prob_stream(x, history))
    network = sum(p.numel() for p in m.parameters())
    assert n_parameters(m) == network + n_parameters(m.chain) > network


def test_a_chain_is_mixed_in_for_text_only():
    from genlab.errors import GenlabError
    from genlab.models.ar import MusicAR

    with pytest.raises(GenlabError, match="ar.ngram: a chain is mixed in for text only"):
        MusicAR(AutoRegressive.Params(**{**TINY_AR, "ngram": 2}), (88,), 2, n_chords=5)
