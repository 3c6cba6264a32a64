"""The models learn: tiny models trained on generated tasks reach >= 99% exact match with greedy `generate()`.

Each trains for a fixed number of steps (about 15 s on 2 CPU cores) and is scored on sequences it never saw.
"""

import pytest
import torch

import vanilla_transformer as vt


PAD, EOS, SEP, FIRST_DIGIT = 0, 3, 4, 5
VOCAB_SIZE = FIRST_DIGIT + 10
TINY = dict(vocab_size=VOCAB_SIZE, d_model=64, num_heads=4, d_ff=256, dropout=0.0)


def random_digits(generator, low=4, high=10):
    length = int(torch.randint(low, high + 1, (1,), generator=generator))
    return torch.randint(0, 10, (length,), generator=generator) + FIRST_DIGIT


def pad_rows(rows, value, left=False):
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value)
    for i, r in enumerate(rows):
        if left:
            out[i, width - len(r) :] = r
        else:
            out[i, : len(r)] = r
    return out


def train(model, make_batch, steps, lr=2e-3, warmup=50):
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min((s + 1) / warmup, 1.0) * (1 - s / steps))
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        loss = model(**make_batch(64, generator)).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    return model.eval()


def strip_after_eos(tokens):
    tokens = tokens.tolist()
    return tokens[: tokens.index(EOS) + 1] if EOS in tokens else tokens


@pytest.mark.slow
def test_seq2seq_learns_to_reverse_digit_strings():
    def batch(size, generator):
        sources = [random_digits(generator) for _ in range(size)]
        eos = torch.tensor([EOS])
        input_ids = pad_rows([torch.cat([s, eos]) for s in sources], PAD)
        labels = pad_rows([torch.cat([s.flip(0), eos]) for s in sources], -100)
        return {"input_ids": input_ids, "attention_mask": input_ids.ne(PAD).long(), "labels": labels}

    torch.manual_seed(0)
    config = vt.TransformerConfig(encoder_layers=2, decoder_layers=2, **TINY)
    model = train(vt.TransformerForConditionalGeneration(config), batch, steps=700)

    test = batch(300, torch.Generator().manual_seed(12345))
    generated = model.generate(
        input_ids=test["input_ids"],
        attention_mask=test["attention_mask"],
        max_new_tokens=12,
        do_sample=False,
        num_beams=1,
    )
    correct = sum(
        strip_after_eos(generated[i, 1:]) == test["labels"][i][test["labels"][i] != -100].tolist() for i in range(300)
    )
    assert correct / 300 >= 0.99


@pytest.mark.slow
def test_causal_lm_learns_to_sort_digits_after_a_separator():
    def example(generator):
        digits = random_digits(generator)
        return digits, torch.cat([digits.sort().values, torch.tensor([EOS])])

    def batch(size, generator):
        rows, label_rows = [], []
        for _ in range(size):
            digits, answer = example(generator)
            prompt = torch.cat([digits, torch.tensor([SEP])])
            rows.append(torch.cat([prompt, answer]))
            label_rows.append(torch.cat([torch.full((len(prompt),), -100), answer]))  # learn the answer only
        input_ids = pad_rows(rows, PAD)
        return {
            "input_ids": input_ids,
            "attention_mask": input_ids.ne(PAD).long(),
            "labels": pad_rows(label_rows, -100),
        }

    torch.manual_seed(0)
    config = vt.TransformerDecoderConfig(num_layers=2, **TINY)
    model = train(vt.TransformerForCausalLM(config), batch, steps=900)

    generator = torch.Generator().manual_seed(12345)
    examples = [example(generator) for _ in range(300)]
    prompts = pad_rows([torch.cat([d, torch.tensor([SEP])]) for d, _ in examples], PAD, left=True)
    generated = model.generate(
        input_ids=prompts, attention_mask=prompts.ne(PAD).long(), max_new_tokens=12, do_sample=False
    )
    correct = sum(
        strip_after_eos(generated[i, prompts.shape[1] :]) == answer.tolist() for i, (_, answer) in enumerate(examples)
    )
    assert correct / 300 >= 0.99
