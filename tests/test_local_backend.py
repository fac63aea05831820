"""The local backend on CPU with a tiny random-weight Qwen2 and peft LoRA adapters built in the test.

Nothing is downloaded: the tokenizer is a byte-level BPE trained here on a
few Chinese and English sentences, the model comes from a ``Qwen2Config``,
and the adapters are made and saved by peft into ``tmp_path``. References
are transformers' own ``generate`` (one prompt at a time, no padding) and
peft's own ``PeftModel``, so the tests pin our batching and LoRA math
against the libraries rather than against themselves.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from peft import LoraConfig, PeftModel, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

from luotuo_rpg.llm.backends.local.backend import LocalBackend
from luotuo_rpg.llm.backends.local.lora_batch import BASE, AdapterError, MultiLoRA
from luotuo_rpg.llm.chat import ChatBackend, ChatRequest

CORPUS = [
    "小明在咖啡馆里喝咖啡，然后去图书馆看书。",
    "今天天气很好，我们去公园散步吧！",
    "王阿姨在菜市场买了白菜和豆腐，准备做晚饭。",
    "Alice walks to the cafe and orders a coffee with Bob.",
    "The blacksmith opens his shop at eight and closes at six.",
    '{"action": "sleep", "place": "home", "emoji": "😴"}',
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PROMPTS = [
    "你好",
    "小明今天下午要做什么？请用一句话回答。",
    "Where does Alice go in the morning?",
    "王阿姨在菜市场买了什么？她准备做什么？请详细说明一下她今天的计划和安排。",
    "Plan the blacksmith's day as JSON.",
]
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


def messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "你是小镇居民。"}, {"role": "user", "content": prompt}]


def request(prompt: str, **kwargs: object) -> ChatRequest:
    return ChatRequest(kind="test", messages=messages(prompt), json_mode=False, **kwargs)


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 10, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", chat_template=CHAT_TEMPLATE
    )


@pytest.fixture(scope="module")
def model(tokenizer: PreTrainedTokenizerFast):
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        # Larger than the default 0.02 so a random model has clear argmax winners: greedy ties would make
        # batched-vs-single comparisons depend on float summation order.
        initializer_range=0.2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()


def make_adapter(model, folder: Path, seed: int, config: LoraConfig) -> Path:
    torch.manual_seed(seed)
    peft_model = get_peft_model(copy.deepcopy(model), config)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:
            # peft starts B at zero (a no-op adapter); a trained adapter is not, and the tests must see it act.
            torch.nn.init.normal_(parameter, std=0.3)
    peft_model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def adapters(model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": make_adapter(model, root / "a", 1, LoraConfig(r=4, lora_alpha=8, target_modules=ATTENTION)),
        # Different rank and a different target set: only q and v.
        "b": make_adapter(model, root / "b", 2, LoraConfig(r=8, lora_alpha=4, target_modules=["q_proj", "v_proj"])),
        # rsLoRA scaling, MLP layers only, and a per-layer rank.
        "c": make_adapter(
            model,
            root / "c",
            3,
            LoraConfig(
                r=2,
                lora_alpha=6,
                use_rslora=True,
                target_modules=["gate_proj", "up_proj", "down_proj"],
                rank_pattern={"down_proj": 6},
            ),
        ),
    }


def reference(model, tokenizer, prompt: str, max_new: int) -> tuple[str, int]:
    """transformers' own greedy generate for one prompt, no padding: the text and generated-token count."""
    text = tokenizer.apply_chat_template(messages(prompt), tokenize=False, add_generation_prompt=True)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, ids.shape[1] :].tolist()
    if tokenizer.eos_token_id in new:
        new = new[: new.index(tokenizer.eos_token_id) + 1]
    return tokenizer.decode(new, skip_special_tokens=True), len(new)


def peft_reference(model, tokenizer, adapter: Path, prompt: str, max_new: int) -> tuple[str, int]:
    peft_model = PeftModel.from_pretrained(copy.deepcopy(model), str(adapter)).eval()
    return reference(peft_model, tokenizer, prompt, max_new)


def assert_no_hooks_left(model) -> None:
    assert all(not module._forward_hooks for module in model.modules())


async def test_concurrent_greedy_requests_form_one_batch_and_match_one_at_a_time(model, tokenizer) -> None:
    backend = LocalBackend.from_model(model, tokenizer)
    assert isinstance(backend, ChatBackend)
    results = await asyncio.gather(*(backend.chat(request(p, max_tokens=16)) for p in PROMPTS))
    assert backend.counters["batches"] == 1
    assert backend.counters["max_batch_seen"] == len(PROMPTS)
    assert backend.counters["batched_requests"] == len(PROMPTS)

    for prompt, result in zip(PROMPTS, results):
        text, generated = reference(model, tokenizer, prompt, 16)
        assert (result.text, result.tokens_out) == (text, generated), prompt
        templated = tokenizer.apply_chat_template(messages(prompt), tokenize=False, add_generation_prompt=True)
        assert result.tokens_in == len(tokenizer(templated, add_special_tokens=False)["input_ids"])
    assert len({r.tokens_in for r in results}) > 1, "prompts must differ in length to exercise left padding"

    one_at_a_time = [await backend.chat(request(p, max_tokens=16)) for p in PROMPTS]
    assert [r.text for r in one_at_a_time] == [r.text for r in results]
    assert backend.counters["batches"] == 1 + len(PROMPTS)
    await backend.aclose()


async def test_mixed_adapter_batch_matches_peft_per_adapter_and_base_rows_match_plain_model(
    model, tokenizer, adapters: dict[str, Path]
) -> None:
    rows = [
        (PROMPTS[0], None),
        (PROMPTS[1], "a"),
        (PROMPTS[2], "b"),
        (PROMPTS[3], "c"),
        (PROMPTS[4], "a"),
        (PROMPTS[1], None),
        (PROMPTS[1], "b"),
    ]
    backend = LocalBackend.from_model(model, tokenizer)
    results = await asyncio.gather(
        *(backend.chat(request(p, max_tokens=12, adapter=None if a is None else str(adapters[a]))) for p, a in rows)
    )
    assert backend.counters["batches"] == 1
    assert backend.counters["max_batch_seen"] == len(rows)
    assert backend.counters["adapters_loaded"] == 3
    assert_no_hooks_left(model)

    for (prompt, name), result in zip(rows, results):
        if name is None:
            expected = reference(model, tokenizer, prompt, 12)
        else:
            expected = peft_reference(model, tokenizer, adapters[name], prompt, 12)
        assert (result.text, result.tokens_out) == expected, (prompt, name)
    # The adapters really change the output, so the equalities above are not vacuous.
    assert len({results[1].text, results[5].text, results[6].text}) == 3

    alone = [
        await backend.chat(request(p, max_tokens=12, adapter=None if a is None else str(adapters[a]))) for p, a in rows
    ]
    assert [r.text for r in alone] == [r.text for r in results]
    assert backend.counters["adapters_loaded"] == 3, "adapters are loaded once"
    await backend.aclose()


def test_saved_adapter_reloads_to_identical_logits_in_peft_and_in_batched_lora(
    model, tokenizer, tmp_path: Path
) -> None:
    torch.manual_seed(7)
    in_memory = get_peft_model(
        copy.deepcopy(model), LoraConfig(r=4, lora_alpha=16, target_modules=ATTENTION + ["down_proj"])
    )
    for name, parameter in in_memory.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.3)
    in_memory.eval()
    in_memory.save_pretrained(str(tmp_path / "saved"))
    reloaded = PeftModel.from_pretrained(copy.deepcopy(model), str(tmp_path / "saved")).eval()

    ids = torch.tensor([tokenizer(CORPUS[0] + CORPUS[3])["input_ids"]] * 3)
    with torch.inference_mode():
        plain = model(input_ids=ids).logits
        expected = in_memory(input_ids=ids).logits
        assert torch.equal(reloaded(input_ids=ids).logits, expected)

        lora = MultiLoRA(model)
        index = lora.load(tmp_path / "saved")
        assert lora.load(str(tmp_path / "saved")) == index
        with lora.activate([index] * 3):
            uniform = model(input_ids=ids).logits
        # Rows of one batch, each with its own adapter or none: the prefill (per-row bmm) path.
        with lora.activate([index, BASE, index]):
            mixed = model(input_ids=ids).logits
        after = model(input_ids=ids).logits
    torch.testing.assert_close(uniform, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mixed[0], expected[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mixed[2], expected[2], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mixed[1], plain[1], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(expected, plain, atol=1e-3)
    assert torch.equal(after, plain)
    assert_no_hooks_left(model)


async def test_stop_strings_and_max_tokens_end_each_row_on_its_own(model, tokenizer) -> None:
    backend = LocalBackend.from_model(model, tokenizer)
    prompt = PROMPTS[1]
    full = await backend.chat(request(prompt, max_tokens=24))
    assert full.tokens_out == 24 and len(full.text) > 6, "the reference run must not end early"
    # A stop string that first occurs partway through the full output.
    # (A random model emits loose UTF-8 bytes; a stop string made of replacement characters would be meaningless.)
    start = next(
        i
        for i in range(2, len(full.text) - 2)
        if full.text.find(full.text[i : i + 2]) == i and "\ufffd" not in full.text[i : i + 2]
    )
    stop = full.text[start : start + 2]

    stopped, short, untouched = await asyncio.gather(
        backend.chat(request(prompt, max_tokens=24, stop=["never appears", stop])),
        backend.chat(request(prompt, max_tokens=3)),
        backend.chat(request(PROMPTS[2], max_tokens=24)),
    )
    assert backend.counters["batches"] == 2
    assert stopped.text == full.text[:start]
    assert 0 < stopped.tokens_out < full.tokens_out
    assert (short.text, short.tokens_out) == reference(model, tokenizer, prompt, 3)
    assert untouched.tokens_out == 24
    assert untouched.text == reference(model, tokenizer, PROMPTS[2], 24)[0]
    await backend.aclose()


async def test_end_of_sequence_token_ends_its_row_and_is_not_in_the_text(model, tokenizer) -> None:
    emitted = []
    for prompt in PROMPTS[:3]:
        text = tokenizer.apply_chat_template(messages(prompt), tokenize=False, add_generation_prompt=True)
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, max_new_tokens=10, do_sample=False, pad_token_id=0)
        emitted.append(out[0, ids.shape[1] :].tolist())
    assert tokenizer.eos_token_id not in emitted[0]
    # Declare a token the model emits as an extra end-of-sequence id (chat models list several in generation_config).
    eos = emitted[0][4]
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, eos]
    try:
        backend = LocalBackend.from_model(model, tokenizer)
        ended = await asyncio.gather(*(backend.chat(request(p, max_tokens=10)) for p in PROMPTS[:3]))
        await backend.aclose()
    finally:
        model.generation_config.eos_token_id = saved
    assert backend.counters["batches"] == 1
    for tokens, result in zip(emitted, ended):
        stops = [i for i, t in enumerate(tokens) if t in (eos, tokenizer.eos_token_id)]
        kept = tokens[: stops[0]] if stops else tokens
        assert result.tokens_out == (stops[0] + 1 if stops else 10)
        assert result.text == tokenizer.decode(kept, skip_special_tokens=True)
    assert ended[0].tokens_out <= 5


async def test_event_loop_keeps_running_while_a_batch_generates(model, tokenizer) -> None:
    backend = LocalBackend.from_model(model, tokenizer)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.gather(*(backend.chat(request(p, max_tokens=64)) for p in PROMPTS))
    ticker.cancel()
    await backend.aclose()
    assert backend.counters["decode_steps"] == 64
    assert ticks >= 5, "generation must run off the event loop"


async def test_sampling_is_seeded_and_greedy_rows_stay_greedy_beside_it(model, tokenizer) -> None:
    runs = []
    for _ in range(2):
        backend = LocalBackend.from_model(model, tokenizer, seed=123)
        runs.append(
            await asyncio.gather(
                backend.chat(request(PROMPTS[1], max_tokens=12, temperature=1.0)),
                backend.chat(request(PROMPTS[2], max_tokens=12)),
            )
        )
        await backend.aclose()
    assert runs[0][0].text == runs[1][0].text
    assert runs[0][1].text == reference(model, tokenizer, PROMPTS[2], 12)[0]


async def test_bad_adapter_fails_only_its_request(model, tokenizer, tmp_path: Path) -> None:
    backend = LocalBackend.from_model(model, tokenizer)
    good, bad = await asyncio.gather(
        backend.chat(request(PROMPTS[0], max_tokens=4)),
        backend.chat(request(PROMPTS[0], max_tokens=4, adapter=str(tmp_path / "missing"))),
        return_exceptions=True,
    )
    assert isinstance(bad, AdapterError) and "adapter_config.json" in str(bad)
    assert not isinstance(good, BaseException) and good.tokens_out == 4
    with pytest.raises(AdapterError):
        backend.load_adapter(tmp_path / "missing")
    await backend.aclose()


async def test_tokenizer_without_chat_template_gets_a_role_transcript(model, tokenizer) -> None:
    bare = copy.deepcopy(tokenizer)
    bare.chat_template = None
    backend = LocalBackend.from_model(model, bare)
    result = await backend.chat(request("hi", max_tokens=3))
    transcript = "system: 你是小镇居民。\nuser: hi\nassistant:"
    assert result.tokens_in == len(bare(transcript, add_special_tokens=False)["input_ids"])
    await backend.aclose()


async def test_model_folder_loads_offline_in_fp32_on_cpu(model, tokenizer, tmp_path: Path) -> None:
    model.save_pretrained(str(tmp_path / "model"))
    tokenizer.save_pretrained(str(tmp_path / "model"))
    backend = LocalBackend(tmp_path / "model", device="cpu")
    assert backend.model.dtype == torch.float32
    result = await backend.chat(request(PROMPTS[3], max_tokens=8))
    assert (result.text, result.tokens_out) == reference(model, tokenizer, PROMPTS[3], 8)
    await backend.aclose()
    with pytest.raises(FileNotFoundError):
        LocalBackend(tmp_path / "no-such-model", device="cpu")


def test_a_run_on_a_local_model_with_a_persona_adapter_completes_under_the_schemas(
    model, tokenizer, adapters, tmp_path: Path
) -> None:
    """The CLI path end to end: `run --llm local --model DIR` with one persona on a LoRA adapter.

    A random-weight model writes nonsense, but decoded under each request's JSON
    Schema the nonsense has the answer's shape; what is pinned is that the whole
    pipeline runs, batches, loads the persona's adapter, constrains every request
    and never crashes."""
    import json
    import shutil
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    model.save_pretrained(str(tmp_path / "model"))
    tokenizer.save_pretrained(str(tmp_path / "model"))
    world = (repo / "worlds" / "tiny.yaml").read_text(encoding="utf-8")
    # Relative to the world file, as a world that ships with its adapters would name it (the run's cwd is elsewhere).
    shutil.copytree(adapters["a"], tmp_path / "adapters" / "tong")
    world = world.replace('    color: "#e91e63"', '    color: "#e91e63"\n    adapter: adapters/tong', 1)
    (tmp_path / "world.yaml").write_text(world, encoding="utf-8")
    result = subprocess.run(
        # Six game minutes: the day plans (five game minutes of thinking) are made.
        [
            sys.executable,
            "-m",
            "luotuo_rpg.cli",
            "run",
            str(tmp_path / "world.yaml"),
            "--hours",
            "0.1",
            "--llm",
            "local",
            "--model",
            str(tmp_path / "model"),
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    llm = summary["llm"]
    assert llm["backend"] == "local"
    assert llm["requests"] > 0
    assert llm["backend_counters"]["constrained_requests"] == llm["requests"]
    assert llm["fallbacks"] == sum(kind["fallbacks"] for kind in llm["by_kind"].values())
    assert llm["backend_counters"]["adapters_loaded"] == 1
    assert llm["backend_counters"]["batches"] >= 1
    assert summary["ticks"] == 36


async def test_rows_with_a_schema_can_only_write_answers_that_fit_it(model, tokenizer) -> None:
    """Decoding under the schema (llguidance masks): even random weights give schema-valid JSON,
    in the same batch as a free row, at a sampling temperature too."""
    import json

    import jsonschema

    schema = {
        "type": "object",
        "properties": {
            "place": {"type": "string", "enum": ["客栈/大堂", "药铺/药房"]},
            "minutes": {"type": "integer", "minimum": 5, "maximum": 15},
            "line": {"type": "string", "maxLength": 6},
        },
        "required": ["place", "minutes", "line"],
        "additionalProperties": False,
    }
    backend = LocalBackend.from_model(model, tokenizer, batch_window_s=0.05)
    constrained = [
        request(p, max_tokens=60, json_schema=schema, temperature=t) for p, t in zip(PROMPTS, (0.0, 0.0, 1.0, 1.0))
    ]
    constrained = [r.model_copy(update={"json_mode": True}) for r in constrained]
    free = request(PROMPTS[4], max_tokens=8)
    results = await asyncio.gather(*(backend.chat(r) for r in [*constrained, free]))
    await backend.aclose()
    for result in results[:-1]:
        jsonschema.validate(json.loads(result.text), schema)
    assert (results[-1].text, results[-1].tokens_out) == reference(model, tokenizer, PROMPTS[4], 8)
    assert backend.counters["constrained_requests"] == 4 and backend.counters["grammar_errors"] == 0
