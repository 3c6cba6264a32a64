"""The reliability tests guard what they claim: disable each protection in turn (a one-line edit of the source), run
the tests that cover it, and require them to fail; the file is restored afterwards. Run after changing a protection:

    .venv/bin/python .ci/check_protections.py
"""

import pathlib
import subprocess
import sys


ROOT = pathlib.Path(__file__).resolve().parent.parent
MUTATIONS = [
    (
        "fractional mask",
        "modeling/validation.py",
        "if binary_mask and values.pop() > 0:",
        "if binary_mask and values.pop() > 10**9:",
        "fractional and mask",
    ),
    (
        "empty batch",
        "modeling/validation.py",
        "    if batch_size == 0:\n",
        "    if batch_size == -1:\n",
        "empty and batch",
    ),
    (
        "token_type_ids message",
        "modeling/validation.py",
        '    if "token_type_ids" in unknown:',
        "    if False:",
        "token_type_ids",
    ),
    (
        "unknown keywords",
        "modeling/validation.py",
        "unknown = sorted(set(kwargs) - LIBRARY_KWARGS - set(also_allowed))",
        "unknown = []",
        "keyword and no and layer and reads",
    ),
    (
        "config re-check at build",
        "modeling/pretrained.py",
        "        config.check()\n        super().__init__(config, *inputs, **kwargs)",
        "        super().__init__(config, *inputs, **kwargs)",
        "(set and after and construction) or unknown_activation or (config and update) or (from_pretrained and override)",
    ),
    (
        "generation length before the first step",
        "modeling/pretrained.py",
        'if self.config.position_embedding_type == "learned" and generation_config.max_length > limit:',
        "if False:",
        "learned and positions",
    ),
    (
        "decoder inputs before the encoder",
        "modeling/modeling_seq2seq.py",
        "            check_stack_inputs(\n",
        "            (lambda *a: None)(\n",
        "before and encoder",
    ),
    (
        "pickle refusal",
        "modeling/pretrained.py",
        "            _refuse_pickled_weights(pretrained_model_name_or_path, kwargs)\n",
        "",
        "pytorch_model",
    ),
    (
        "checksums",
        "modeling/pretrained.py",
        "            _verify_checksums(pretrained_model_name_or_path, kwargs)\n",
        "            pass\n",
        "corrupted and tensor",
    ),
    (
        "collator message",
        "modeling/modeling_seq2seq.py",
        "        elif decoder_input_ids is None and decoder_inputs_embeds is None:\n            raise ValueError(",
        "        elif False:\n            raise ValueError(",
        "collator",
    ),
    (
        "causal LM shift under label smoothing",
        "modeling/modeling_decoder.py",
        "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.setdefault(",
        "dict().setdefault(",
        "trainer_loss_of_the_causal_lm",
    ),
    (
        "regression labels of any dtype",
        "modeling/loss.py",
        "    if labels is not None and not is_regression(config):",
        "    if labels is not None:",
        "regression",
    ),
    (
        "resizing the unshared decoder",
        "modeling/modeling_seq2seq.py",
        "        if not self.config.share_encoder_decoder_embeddings and embeddings.num_embeddings != num_tokens:",
        "        if False:",
        "resizing",
    ),
    (
        "pad warning",
        "modeling/modeling_decoder.py",
        "            self.warn_if_padding_and_no_attention_mask(input_ids, attention_mask)",
        "            pass",
        "warn_once",
    ),
    (
        "averaging: truncated file named",
        "training/checkpoints.py",
        '        raise OSError(f"cannot average {path}: {problem}.")',
        "        pass",
        "(averaging and truncated) or (averaging and changed)",
    ),
    (
        "averaging: NaN",
        "training/checkpoints.py",
        "                if not torch.isfinite(tensor).all():",
        "                if False:",
        "NaN",
    ),
    (
        "averaging: output_dir among inputs",
        "training/checkpoints.py",
        "        if output == checkpoint or output in checkpoint.parents:",
        "        if False:",
        "(averaging and into)",
    ),
    (
        "resume: complete checkpoints only",
        "examples/common.py",
        "            complete = [path for path, problem in problems.items() if problem is None]",
        "            complete = list(problems)",
        "resuming",
    ),
]
results = []
for name, file, old, new, selector in MUTATIONS:
    path = ROOT / file
    text = path.read_text()
    assert text.count(old) >= 1, (name, old)
    path.write_text(text.replace(old, new, 1))
    try:
        run = subprocess.run(
            [
                str(ROOT / ".venv/bin/python"),
                "-m",
                "pytest",
                "tests/test_reliability.py",
                "tests/test_loss.py",
                "-q",
                "-p",
                "no:cacheprovider",
                "-x",
                "-k",
                selector,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-200:]
        results.append((name, run.returncode != 0, last))
    finally:
        path.write_text(text)
    print(f"{'FAILS (good)' if run.returncode != 0 else 'PASSES (BAD)':14} {name}: {last}", flush=True)

sys.exit(0 if all(failed for _, failed, _ in results) else 1)
