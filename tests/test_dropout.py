"""Dropout with its mask drawn from uniform numbers on the CPU (`modeling/dropout.py`): the library's dropout in
distribution, gradient and determinism."""

import pytest
import torch

from vanilla_transformer.modeling.dropout import dropout


P = 0.3


def test_each_element_is_zeroed_or_scaled_by_one_over_one_minus_p():
    x = torch.randn(64, 128)
    out = dropout(x, P, training=True)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / (1 - P))


def test_the_zeroed_fraction_is_p():
    out = dropout(torch.ones(1000, 1000), P, training=True)
    zeroed = (out == 0).float().mean().item()
    assert abs(zeroed - P) < 0.003  # 1M Bernoulli draws: the standard error is 0.0005


def test_the_gradient_is_the_mask_scaled():
    x = torch.ones(256, 64, requires_grad=True)
    out = dropout(x, P, training=True)
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out != 0).float() / (1 - P))


def test_the_same_seed_draws_the_same_mask():
    x = torch.randn(32, 32)
    torch.manual_seed(7)
    first = dropout(x, P, training=True)
    torch.manual_seed(7)
    assert torch.equal(dropout(x, P, training=True), first)
    assert not torch.equal(dropout(x, P, training=True), first)


@pytest.mark.parametrize(("p", "training"), [(P, False), (0.0, True)])
def test_outside_training_or_without_p_it_is_the_identity(p, training):
    x = torch.randn(8, 8)
    assert torch.equal(dropout(x, p, training=training), x)


def test_p_one_zeroes_everything_as_the_library_does():
    assert torch.equal(dropout(torch.randn(8, 8), 1.0, training=True), torch.zeros(8, 8))


def test_a_p_outside_zero_one_is_the_librarys_value_error():
    with pytest.raises(ValueError, match="dropout probability"):
        dropout(torch.randn(8, 8), 1.5, training=True)
