"""The classification example, end to end on a tiny setting: masked-LM pretraining then fine-tuning, accuracy from the
`evaluate` metric equal to what the saved model predicts, saved folders that reload with the Auto classes, and
resumed runs (interrupted in either stage) that end exactly where an uninterrupted one does. (Multi-process runs
under `accelerate launch` are exercised by the translation example's test; this example uses the same shared steps.)"""

import json
import shutil
from types import SimpleNamespace

import evaluate
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer, pipeline

import vanilla_transformer as vt  # noqa: F401  (registers the models with the Auto classes)
from vanilla_transformer.examples import classification as cls
from vanilla_transformer.examples import metrics


MLM_STEPS, STEPS, SAVE_EVERY = 20, 30, 10
TINY = [
    "--d_model",
    "32",
    "--num_heads",
    "2",
    "--d_ff",
    "64",
    "--num_layers",
    "2",
    "--dropout",
    "0.1",
    "--vocab_size",
    "300",
    "--max_seq_length",
    "48",
    "--synthetic_train_size",
    "600",
    "--max_eval_samples",
    "300",
    "--mlm_pretrain_steps",
    str(MLM_STEPS),
    "--per_device_train_batch_size",
    "16",
    "--per_device_eval_batch_size",
    "100",
    "--warmup_steps",
    "10",
    "--max_steps",
    str(STEPS),
    "--save_steps",
    str(SAVE_EVERY),
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "15",
    "--eval_on_start",
    "true",
    "--logging_steps",
    "10",
    "--average_checkpoints",
    "1",
    "--save_total_limit",
    "5",
    "--disable_tqdm",
    "true",
    "--report_to",
    "none",
    "--num_samples",
    "3",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One uninterrupted tiny run on the built-in data, with the metric modules it loaded."""
    output_dir = tmp_path_factory.mktemp("classification") / "run"
    loaded = []
    original = cls.load_metric

    def spy(name, **kwargs):
        loaded.append(original(name, **kwargs))
        return loaded[-1]

    cls.load_metric = spy
    try:
        results = cls.main([*TINY, "--output_dir", str(output_dir)])
    finally:
        cls.load_metric = original
    return SimpleNamespace(output_dir=output_dir, results=results, metrics=loaded)


def final_weights(model_dir) -> dict:
    return load_file(f"{model_dir}/model.safetensors")


def test_pretraining_then_fine_tuning_and_the_accuracy_is_the_saved_models(run):
    results = run.results
    history = json.loads((run.output_dir / "trainer_state.json").read_text())["log_history"]
    initial = next(entry["eval_loss"] for entry in history if "eval_loss" in entry and entry["step"] == 0)
    assert results["global_step"] == STEPS and results["label_names"] == ["negative", "positive"]
    assert results["eval_loss"] < initial
    assert results["mlm_eval_loss"] < 5.6  # below ln(300), the loss of a uniform guess

    model_dir = results["model_dir"]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    _, data_args, _, args, _ = cls.parse_args([*TINY, "--output_dir", "unused"])
    raw, _ = cls.load_classification_data(data_args, args)
    validation = raw["validation"]
    texts, labels = list(validation["text"]), list(validation["label"])
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    correct = (logits.argmax(-1) == torch.tensor(labels)).sum().item()
    assert results["eval_examples"] == len(validation) == 300
    assert results["eval_accuracy"] == correct / len(validation)
    # ... computed by `evaluate`'s module (the Hub's), or offline by the examples' own.
    assert [type(metric).__name__ for metric in run.metrics] == ["Accuracy"]
    assert isinstance(run.metrics[0], (evaluate.EvaluationModule, metrics.Accuracy))
    for sample, text, label, predicted in zip(results["samples"], texts, labels, logits.argmax(-1)):
        assert sample == {
            "text": text,
            "label": model.config.id2label[label],
            "predicted": model.config.id2label[int(predicted)],
        }


def test_the_saved_folders_reload_with_the_auto_classes(run):
    model_dir = run.results["model_dir"]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    assert isinstance(model, vt.TransformerForSequenceClassification)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    # The final model is the last checkpoint (one checkpoint averaged): the same logits.
    last = AutoModelForSequenceClassification.from_pretrained(run.output_dir / f"checkpoint-{STEPS}").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    inputs = tokenizer(
        ["the plot was not dull .", "i hated the songs , but the ending was moving ."],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, last(**inputs).logits)
    predictions = pipeline("text-classification", model=model_dir)(["the plot was not dull ."])
    assert predictions[0]["label"] in ("negative", "positive")

    # The pretrained encoder is a masked LM of its own, and the classifier was fine-tuned from it.
    encoder_dir = run.output_dir / "mlm" / "model"
    masked_lm = AutoModelForMaskedLM.from_pretrained(encoder_dir)
    assert isinstance(masked_lm, vt.TransformerForMaskedLM)
    start = cls.classifier(None, tokenizer, ["negative", "positive"], str(encoder_dir))
    encoder = masked_lm.model.state_dict()
    assert all(torch.equal(value, encoder[name]) for name, value in start.model.state_dict().items())


def test_resuming_in_the_fine_tuning_stage(run, tmp_path):
    # Interrupted after pretraining and SAVE_EVERY fine-tuning steps: the run's folder as it was then.
    resumed_dir = tmp_path / "resumed"
    shutil.copytree(run.output_dir / "mlm", resumed_dir / "mlm")
    shutil.copytree(run.output_dir / "tokenizer", resumed_dir / "tokenizer")
    shutil.copytree(run.output_dir / f"checkpoint-{SAVE_EVERY}", resumed_dir / f"checkpoint-{SAVE_EVERY}")
    results = cls.main([*TINY, "--output_dir", str(resumed_dir), "--resume_from_checkpoint", "latest"])
    assert "mlm_eval_loss" not in results  # the pretraining was done: not run again
    resumed, uninterrupted = final_weights(results["model_dir"]), final_weights(run.results["model_dir"])
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)
    assert results["eval_accuracy"] == run.results["eval_accuracy"]


def test_resuming_in_the_pretraining_stage(run, tmp_path):
    # Interrupted after SAVE_EVERY masked-LM steps: only a pretraining checkpoint exists.
    resumed_dir = tmp_path / "resumed"
    checkpoint = f"mlm/checkpoint-{SAVE_EVERY}"
    shutil.copytree(run.output_dir / checkpoint, resumed_dir / checkpoint)
    results = cls.main([*TINY, "--output_dir", str(resumed_dir), "--resume_from_checkpoint", "latest"])
    # The same masks, data order and dropout: the same encoder, then the same classifier.
    assert results["mlm_eval_loss"] == run.results["mlm_eval_loss"]
    resumed, uninterrupted = final_weights(results["mlm_model_dir"]), final_weights(run.output_dir / "mlm" / "model")
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)
    resumed, uninterrupted = final_weights(results["model_dir"]), final_weights(run.results["model_dir"])
    assert all(torch.equal(resumed[name], uninterrupted[name]) for name in resumed)


def test_tsv_without_header_as_sst2_and_labels_of_every_kind(tmp_path):
    (tmp_path / "train.tsv").write_text("1\ta gripping , funny film .\n0\tdull and -lrb- sadly -rrb- long .\n")
    (tmp_path / "validation.tsv").write_text("0\tit is n't good .\n")
    _, data_args, _, args, _ = cls.parse_args(
        [
            "--preset",
            "sst2",
            "--train_file",
            str(tmp_path / "train.tsv"),
            "--validation_file",
            str(tmp_path / "validation.tsv"),
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    raw, names = cls.load_classification_data(data_args, args)
    assert names == ["negative", "positive"]
    assert raw["train"].column_names == ["text", "label"]
    assert raw["train"][1] == {"text": "dull and -lrb- sadly -rrb- long .", "label": 0}
    assert raw["validation"][0] == {"text": "it is n't good .", "label": 0}

    # String labels are numbered in sorted order; a split without labels (-1, GLUE's test sets) is left out.
    rows = [{"review": "fine", "stars": "good"}, {"review": "meh", "stars": "bad"}, {"review": "ok", "stars": "good"}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    _, data_args, _, args, _ = cls.parse_args(
        [
            "--train_file",
            str(tmp_path / "train.jsonl"),
            "--text_column",
            "review",
            "--label_column",
            "stars",
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    raw, names = cls.load_classification_data(data_args, args)
    assert names == ["bad", "good"] and list(raw["train"]["label"]) == [1, 0, 1]
    import datasets

    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"label": [0, 2]}), test=datasets.Dataset.from_dict({"label": [-1, -1]})
    )
    encoded, names = cls.encode_labels(splits, None)
    assert names == ["0", "1", "2"] and list(encoded) == ["train"]
    with pytest.raises(ValueError, match="--column_names"):
        cls.load_classification_data(data_args, SimpleNamespace(**{**vars(args), "label_column": "missing"}))


def test_the_final_cards_describe_the_classifier_and_the_pretrained_encoder(run):
    card = (run.output_dir / "model" / "README.md").read_text()
    for expected in (
        f"# {run.output_dir.name}\n",
        f'AutoModelForSequenceClassification.from_pretrained("{run.output_dir / "model"}")',
        "`negative`, `positive`",
        "built-in film reviews",
        "600 training examples, 300 validation examples",
        f"| accuracy, validation (300 examples) | {run.results['eval_accuracy']:.4g} |",
        "| labels | 0: negative, 1: positive |",
    ):
        assert expected in card, expected
    encoder_card = (run.output_dir / "mlm" / "model" / "README.md").read_text()
    assert f"# {run.output_dir.name}-mlm\n" in encoder_card and "masked LM" in encoder_card
    assert f'AutoModelForMaskedLM.from_pretrained("{run.output_dir / "mlm" / "model"}")' in encoder_card
    assert f"{MLM_STEPS} steps" in encoder_card
