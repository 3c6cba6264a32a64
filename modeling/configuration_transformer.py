"""Configurations of the three Transformer variants of *Attention Is All You Need* (Vaswani et al., 2017).

`TransformerConfig()` with no arguments is the paper's base model: d_model 512, 6 + 6 layers, 8 heads,
d_ff 2048, dropout 0.1, ReLU, post-LN, sinusoidal positions, embeddings scaled by sqrt(d_model) and one
embedding matrix shared by the source, the target and the pre-softmax projection. The encoder-only and
decoder-only configurations default to the same blocks.

Field names follow the paper (`d_model`, `num_heads`, `d_ff`); `attribute_map` makes the names other
libraries read (`hidden_size`, `num_attention_heads`, `num_hidden_layers`, `intermediate_size`) resolve.
"""

from typing import ClassVar

from transformers import PreTrainedConfig
from transformers.activations import ACT2FN
from transformers.utils.versions import require_version


# The models take the library's `cache` argument, named so since transformers 5.24. The package's dependencies ensure
# that version; the copy of this code saved beside a checkpoint for `trust_remote_code` may meet an older library.
require_version("transformers>=5.24", "vanilla_transformer models need it: `pip install --upgrade transformers`.")


POSITION_EMBEDDING_TYPES = ("sinusoidal", "learned")
CLASSIFIER_POOLING_TYPES = ("cls", "mean")

# The special-token layout shared with the tokenizers this package trains: <pad>, <unk>, <s>, </s>, <mask>.
PAD_TOKEN_ID, UNK_TOKEN_ID, BOS_TOKEN_ID, EOS_TOKEN_ID, MASK_TOKEN_ID = range(5)

# Version of the checkpoint format (config fields, weight names and shapes), recorded in config.json as
# `checkpoint_format`. Loading refuses a checkpoint in a newer format than this code reads; bump it only with a change
# that older code would load wrongly.
CHECKPOINT_FORMAT = 1


class TransformerConfigBase(PreTrainedConfig):
    r"""
    Fields shared by the three variants. Not registered with the Auto classes: use `TransformerConfig`,
    `TransformerEncoderConfig` or `TransformerDecoderConfig`.

    Args:
        vocab_size (`int`, defaults to 37000): size of the (shared) vocabulary.
        d_model (`int`, defaults to 512): width of the residual stream, the embeddings and every sublayer output.
        num_heads (`int`, defaults to 8): attention heads per attention sublayer; must divide `d_model`.
        d_ff (`int`, defaults to 2048): inner width of the position-wise feed-forward network.
        dropout (`float`, defaults to 0.1): dropout on each sublayer output and on embeddings + positions.
        attention_dropout (`float`, defaults to 0.0): dropout on the attention probabilities.
        activation_dropout (`float`, defaults to 0.0): dropout after the feed-forward activation.
        activation_function (`str`, defaults to `"relu"`): any key of `transformers.activations.ACT2FN`.
        max_position_embeddings (`int`, defaults to 1024): longest sequence for learned positions. Sinusoidal
            positions are computed on the fly and work at any length.
        position_embedding_type (`str`, defaults to `"sinusoidal"`): `"sinusoidal"` (the paper) or `"learned"`.
        norm_first (`bool`, defaults to `False`): pre-LN (`x + Sublayer(LayerNorm(x))`, with a final LayerNorm)
            instead of the paper's post-LN (`LayerNorm(x + Sublayer(x))`).
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of every LayerNorm.
        bias (`bool`, defaults to `True`): additive biases in the linear layers and LayerNorms of every block (the
            paper's). `False` drops them, as nanoGPT and most recent models do: fewer parameters and a faster step.
            The task heads keep theirs. (Code older than this field loads such a checkpoint with zero biases: the
            same model, so the checkpoint format did not change.)
        scale_embedding (`bool`, defaults to `True`): multiply token embeddings by sqrt(d_model).
        init_std (`float`, *optional*): `None` (default) initialises linear layers with Xavier-uniform and
            embeddings with N(0, d_model^-0.5), the usual scheme for the paper's model; a float initialises
            every weight with N(0, init_std) instead, as BERT and GPT do.
        tie_word_embeddings (`bool`, defaults to `True`): share the output projection with the token embedding.
        pad_token_id, bos_token_id, eos_token_id (`int`, *optional*): special token ids (defaults 0, 2, 3, the
            layout of the tokenizers `vanilla_transformer.train_tokenizer` builds).
        checkpoint_format (`int`, defaults to `CHECKPOINT_FORMAT`): format of the checkpoint this config belongs to,
            saved in config.json. A config without it loads as the current format; a newer one raises `ValueError`.
    """

    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "num_heads",
        "intermediate_size": "d_ff",
        "hidden_act": "activation_function",
    }

    vocab_size: int = 37000
    d_model: int = 512
    num_heads: int = 8
    d_ff: int = 2048
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    activation_function: str = "relu"
    max_position_embeddings: int = 1024
    position_embedding_type: str = "sinusoidal"
    norm_first: bool = False
    layer_norm_eps: float = 1e-5
    bias: bool = True
    scale_embedding: bool = True
    init_std: float | None = None
    tie_word_embeddings: bool = True
    pad_token_id: int | None = PAD_TOKEN_ID
    bos_token_id: int | None = BOS_TOKEN_ID
    eos_token_id: int | list[int] | None = EOS_TOKEN_ID
    checkpoint_format: int = CHECKPOINT_FORMAT

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.check()

    # Each check names the field, what it got and what is allowed, so a typo fails here and not in a matmul.
    def check(self):
        """Raise `ValueError` if any field holds a value the model cannot be built with."""
        self._check_checkpoint_format()
        for name in ("vocab_size", "d_model", "num_heads", "d_ff", "max_position_embeddings", *self._layer_fields):
            check_positive_int(name, getattr(self, name))
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads}); "
                f"choose num_heads among {[h for h in range(1, self.d_model + 1) if self.d_model % h == 0]}."
            )
        for name in ("dropout", "attention_dropout", "activation_dropout"):
            _check_probability(name, getattr(self, name))
        _check_choice("activation_function", self.activation_function, sorted(ACT2FN))
        _check_choice("position_embedding_type", self.position_embedding_type, POSITION_EMBEDDING_TYPES)
        if self.position_embedding_type == "sinusoidal" and self.d_model % 2 != 0:
            raise ValueError(
                f"sinusoidal positions pair a sine and a cosine: d_model must be even, got {self.d_model}."
            )
        _check_positive_number("layer_norm_eps", self.layer_norm_eps)
        if not isinstance(self.bias, bool):
            raise ValueError(f"bias must be True (the paper's biases) or False (none), got {self.bias!r}.")
        if self.init_std is not None:
            _check_positive_number("init_std", self.init_std)
        for name in self._token_id_fields:
            ids = getattr(self, name)
            for token_id in ids if isinstance(ids, (list, tuple)) else [ids]:
                if token_id is not None and not (_is_int(token_id) and 0 <= token_id < self.vocab_size):
                    raise ValueError(
                        f"{name} must be None or an id in [0, vocab_size={self.vocab_size}), got {token_id!r}. "
                        "Build the config from your tokenizer so ids and vocabulary agree."
                    )

    def _check_checkpoint_format(self) -> None:
        found = self.checkpoint_format
        if not _is_int(found) or found < 1:
            raise ValueError(f"checkpoint_format in config.json must be a positive integer, got {found!r}.")
        if found > CHECKPOINT_FORMAT:
            saved_by = getattr(self, "vanilla_transformer_version", None)
            where = f" of {self._name_or_path}" if getattr(self, "_name_or_path", "") else ""
            raise ValueError(
                f"config.json{where} is in checkpoint format {found}"
                f"{f' (saved by vanilla_transformer {saved_by})' if saved_by else ''}, newer than the format "
                f"{CHECKPOINT_FORMAT} this code reads. Upgrade it (`pip install --upgrade vanilla-transformer`), or "
                "load the checkpoint with `trust_remote_code=True` in a Python that does not import vanilla_transformer, "
                "to run the model code saved with it."
            )

    # Which fields `check` treats as layer counts and as token ids; subclasses extend them.
    _layer_fields: ClassVar[tuple[str, ...]] = ()
    _token_id_fields: ClassVar[tuple[str, ...]] = ("pad_token_id", "bos_token_id", "eos_token_id")


class TransformerConfig(TransformerConfigBase):
    r"""
    Configuration of the encoder-decoder Transformer (`TransformerModel`, `TransformerForConditionalGeneration`).
    With no arguments it is the paper's base model. Besides the fields of `TransformerConfigBase`:

    Args:
        encoder_layers (`int`, defaults to 6): number of encoder layers (N in the paper).
        decoder_layers (`int`, defaults to 6): number of decoder layers.
        share_encoder_decoder_embeddings (`bool`, defaults to `True`): one token embedding for source and target
            (the paper's shared BPE vocabulary); `False` gives each side its own matrix of the same vocabulary.
        decoder_start_token_id (`int`, defaults to 2): first decoder input, `<s>`.
        use_cache (`bool`, defaults to `True`): return key/value caches for fast decoding.

    Example:

    ```python
    >>> from vanilla_transformer import TransformerConfig, TransformerForConditionalGeneration
    >>> config = TransformerConfig()  # the paper's base model
    >>> model = TransformerForConditionalGeneration(config)
    ```
    """

    model_type = "vanilla_transformer"
    keys_to_ignore_at_inference = ["cache"]
    attribute_map = {**TransformerConfigBase.attribute_map, "num_hidden_layers": "encoder_layers"}

    encoder_layers: int = 6
    decoder_layers: int = 6
    share_encoder_decoder_embeddings: bool = True
    decoder_start_token_id: int | None = BOS_TOKEN_ID
    use_cache: bool = True
    is_encoder_decoder: bool = True

    _layer_fields = ("encoder_layers", "decoder_layers")
    _token_id_fields = (*TransformerConfigBase._token_id_fields, "decoder_start_token_id")


class TransformerEncoderConfig(TransformerConfigBase):
    r"""
    Configuration of the encoder-only Transformer (`TransformerEncoderModel`, `TransformerForMaskedLM`,
    `TransformerForSequenceClassification`, `TransformerForTokenClassification`): BERT's shape, the paper's blocks.

    Args:
        num_layers (`int`, defaults to 6): number of encoder layers.
        classifier_dropout (`float`, *optional*): dropout in the classification heads; defaults to `dropout`.
        classifier_pooling (`str`, defaults to `"cls"`): how `TransformerForSequenceClassification` summarises a
            sequence: the first token (`"cls"`, BERT's `[CLS]`) or the mean over non-padding tokens (`"mean"`).
    """

    model_type = "vanilla_transformer_encoder"
    # `encoder_layers` is what the encoder stack reads, in this variant and in the encoder-decoder one
    attribute_map = {
        **TransformerConfigBase.attribute_map,
        "num_hidden_layers": "num_layers",
        "encoder_layers": "num_layers",
    }

    num_layers: int = 6
    classifier_dropout: float | None = None
    classifier_pooling: str = "cls"

    _layer_fields = ("num_layers",)

    def check(self):
        super().check()
        if self.classifier_dropout is not None:
            _check_probability("classifier_dropout", self.classifier_dropout)
        _check_choice("classifier_pooling", self.classifier_pooling, CLASSIFIER_POOLING_TYPES)


class TransformerDecoderConfig(TransformerConfigBase):
    r"""
    Configuration of the decoder-only Transformer (`TransformerDecoderModel`, `TransformerForCausalLM`): GPT's
    shape, the paper's decoder blocks without cross-attention.

    Args:
        num_layers (`int`, defaults to 6): number of decoder layers.
        use_cache (`bool`, defaults to `True`): return key/value caches for fast decoding.
    """

    model_type = "vanilla_transformer_decoder"
    keys_to_ignore_at_inference = ["cache"]
    # `decoder_layers` is what the decoder stack reads, in this variant and in the encoder-decoder one
    attribute_map = {
        **TransformerConfigBase.attribute_map,
        "num_hidden_layers": "num_layers",
        "decoder_layers": "num_layers",
    }

    num_layers: int = 6
    use_cache: bool = True

    _layer_fields = ("num_layers",)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(name: str, value, kind: str = "integer") -> None:
    """The package's one check of a count (layers, widths, steps, tokens): a positive `int`, never a `bool` or a
    float. `kind` names what is counted in the message ("number of tokens")."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive {kind}, got {value!r}.")


def _check_positive_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")


def _check_probability(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{name} is a dropout probability and must be in [0, 1), got {value!r}.")


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}.")


__all__ = ["TransformerConfig", "TransformerDecoderConfig", "TransformerEncoderConfig"]
