"""Attention maps: the weights of one head of one layer, over the tokens of a text, as a labelled heat map.

    from vanilla_transformer.visualization import plot_attention
    plot_attention(model, tokenizer, "the dog sees a cat .", target="...", kind="cross", layer=-1, head=0,
                   path="cross.png")

Plotting needs matplotlib (`pip install vanilla-transformer[plots]`); `attention_map` alone, which returns the weights
and the tokens, does not. Nothing here is imported by the package itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .modeling import TransformerPreTrainedModel


KINDS = {"encoder": "encoder self-attention", "decoder": "decoder self-attention", "cross": "cross-attention"}


@dataclass
class AttentionMap:
    """The weights one head gave: `weights[i, j]` is how much query token i attends to key token j."""

    weights: torch.Tensor  # (query tokens, key tokens)
    query_tokens: list[str]
    key_tokens: list[str]
    title: str


def attention_map(
    model: TransformerPreTrainedModel,
    tokenizer,
    text: str,
    target: str | None = None,
    *,
    kind: str | None = None,
    layer: int = -1,
    head: int = 0,
) -> AttentionMap:
    r"""
    The attention weights of `head` in `layer` for one text, computed with the eager attention (the only one that
    returns weights), with the model in evaluation mode; the model's settings are restored afterwards.

    Args:
        text: the input (the source, for the encoder-decoder model).
        target: the encoder-decoder model's target text, read by its decoder (teacher forcing: `<s>` + target).
        kind: `"encoder"` (self-attention of an encoder), `"decoder"` (causal self-attention) or `"cross"` (the
            decoder attending to the encoder); by default the model's only kind, or `"cross"` for the encoder-decoder.
        layer, head: which ones; negative indices count from the end.
    """
    is_seq2seq = model.config.is_encoder_decoder
    kinds = ("encoder", "decoder", "cross") if is_seq2seq else (("decoder",) if model.can_generate() else ("encoder",))
    kind = kind or ("cross" if is_seq2seq else kinds[0])
    if kind not in kinds:
        raise ValueError(f"kind must be one of {list(kinds)} for {type(model).__name__}, got {kind!r}.")
    if is_seq2seq and kind != "encoder" and target is None:
        raise ValueError(f"The {KINDS[kind]} of an encoder-decoder model reads the target: pass `target=`.")

    inputs = tokenizer(text, return_tensors="pt", return_token_type_ids=False).to(model.device)
    if is_seq2seq:
        labels = tokenizer(text_target=target if target is not None else "", return_tensors="pt")["input_ids"]
        inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels.to(model.device))
    implementation, training = model.config._attn_implementation, model.training
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            outputs = model.eval()(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation(implementation)
        model.train(training)

    source_tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    decoder_tokens = tokenizer.convert_ids_to_tokens(inputs["decoder_input_ids"][0].tolist()) if is_seq2seq else None
    if not is_seq2seq:
        attentions, queries, keys = outputs.attentions, source_tokens, source_tokens
    elif kind == "encoder":
        attentions, queries, keys = outputs.encoder_attentions, source_tokens, source_tokens
    elif kind == "decoder":
        attentions, queries, keys = outputs.decoder_attentions, decoder_tokens, decoder_tokens
    else:
        attentions, queries, keys = outputs.cross_attentions, decoder_tokens, source_tokens
    layers, heads = len(attentions), attentions[0].shape[1]
    if not -layers <= layer < layers or not -heads <= head < heads:
        raise ValueError(f"The model has {layers} layers of {heads} heads: got layer {layer}, head {head}.")
    weights = attentions[layer][0, head].float().cpu()  # (queries, keys)
    title = f"{KINDS[kind]}, layer {layer % layers}, head {head % heads}"
    return AttentionMap(weights=weights, query_tokens=queries, key_tokens=keys, title=title)


def plot_attention(
    model: TransformerPreTrainedModel,
    tokenizer,
    text: str,
    target: str | None = None,
    *,
    kind: str | None = None,
    layer: int = -1,
    head: int = 0,
    path: str | Path = "attention.png",
    figsize: tuple[float, float] = (8.0, 8.0),
    dpi: int = 100,
) -> AttentionMap:
    """Draw `attention_map(...)` as a heat map (queries down, keys across, each labelled with its token) and save it
    as a PNG of `figsize` inches at `dpi` dots per inch; return the map drawn."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no window
    import matplotlib.pyplot as plt

    attention = attention_map(model, tokenizer, text, target, kind=kind, layer=layer, head=head)
    figure, axes = plt.subplots(figsize=figsize, dpi=dpi)
    try:
        image = axes.imshow(attention.weights.numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
        axes.set_xticks(range(len(attention.key_tokens)), attention.key_tokens, rotation=90)
        axes.set_yticks(range(len(attention.query_tokens)), attention.query_tokens)
        axes.set_xlabel("attended to (keys)")
        axes.set_ylabel("attending (queries)")
        axes.set_title(attention.title)
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
        figure.tight_layout()
        figure.savefig(path, dpi=dpi)
    finally:
        plt.close(figure)
    return attention


__all__ = ["AttentionMap", "attention_map", "plot_attention"]
