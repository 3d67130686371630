"""Build a tiny Llama in Hugging Face format, locally and deterministically, for the real-engine lab.

No hub access and no torch: the tokenizer is a byte-level BPE trained with `tokenizers` on text that ships
with this package, the weights are seeded random fp32 tensors written with `safetensors`, and config.json
is the LlamaConfig that `transformers.LlamaConfig(...).save_pretrained()` would write for these sizes.
vLLM loads the folder like any checkpoint (`model_name` = the folder's path). The text it generates is
noise; what the lab needs from it is a real engine doing real scheduling, batching and KV-cache work.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from tritonobs.core.errors import UsageError

CORPUS_FILE = "tiny_corpus.txt"
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")  # ids 0, 1, 2 as in Llama's tokenizer


@dataclass(frozen=True)
class TinyLlama:
    """Sizes of the model (docs/facts.md: 3.4 MB, ~300 tokens/s at concurrency 1 on this machine kind)."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 2048
    seed: int = 0

    def config(self) -> dict[str, object]:
        """config.json as transformers writes it for LlamaConfig with these sizes (fp32 weights)."""
        sizes = {k: v for k, v in asdict(self).items() if k != "seed"}
        return {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "head_dim": self.hidden_size // self.num_attention_heads,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "mlp_bias": False,
            "model_type": "llama",
            "pretraining_tp": 1,
            "rms_norm_eps": 1e-06,
            "rope_scaling": None,
            "rope_theta": 10000.0,
            "tie_word_embeddings": False,
            "torch_dtype": "float32",
            "use_cache": True,
            **sizes,
        }


def corpus() -> str:
    return resources.files("tritonobs.data").joinpath(CORPUS_FILE).read_text(encoding="utf-8")


def _tokenizer(vocab_size: int) -> object:
    # tokenizers, numpy and safetensors are the lab extra's, needed only when a tiny model is built.
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodes: no <unk> on any input
        show_progress=False,
    )
    tok.train_from_iterator(corpus().splitlines(), trainer=trainer)
    return tok


def _weights(m: TinyLlama) -> dict[str, object]:
    import numpy as np  # lazily: start-up speed (see _tokenizer)

    rng = np.random.default_rng(m.seed)
    h, i, v = m.hidden_size, m.intermediate_size, m.vocab_size
    kv = m.num_key_value_heads * (h // m.num_attention_heads)

    def normal(*shape: int) -> object:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    tensors: dict[str, object] = {"model.embed_tokens.weight": normal(v, h)}
    for n in range(m.num_hidden_layers):
        p = f"model.layers.{n}."
        tensors |= {
            p + "self_attn.q_proj.weight": normal(h, h),
            p + "self_attn.k_proj.weight": normal(kv, h),
            p + "self_attn.v_proj.weight": normal(kv, h),
            p + "self_attn.o_proj.weight": normal(h, h),
            p + "mlp.gate_proj.weight": normal(i, h),
            p + "mlp.up_proj.weight": normal(i, h),
            p + "mlp.down_proj.weight": normal(h, i),
            p + "input_layernorm.weight": np.ones(h, dtype=np.float32),
            p + "post_attention_layernorm.weight": np.ones(h, dtype=np.float32),
        }
    tensors |= {"model.norm.weight": np.ones(h, dtype=np.float32), "lm_head.weight": normal(v, h)}
    return tensors


def build_tiny_llama(out: Path, model: TinyLlama | None = None) -> Path:
    """Write the model folder `out` (created; an existing non-empty folder is refused) and return it."""
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise UsageError("building a tiny model needs the lab extra: pip install 'tritonobs[lab]'") from None
    m = model or TinyLlama()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError("exists and is not an empty folder: choose a new path", file=str(out))
    out.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(m.vocab_size)
    tok.save(str(out / "tokenizer.json"))  # type: ignore[attr-defined]
    bos, eos, unk = "<s>", "</s>", "<unk>"
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": unk,
        "model_max_length": m.max_position_embeddings,
        "clean_up_tokenization_spaces": False,
    }
    _write_json(out / "tokenizer_config.json", tokenizer_config)
    _write_json(out / "special_tokens_map.json", {"bos_token": bos, "eos_token": eos, "unk_token": unk})
    _write_json(out / "config.json", m.config())
    _write_json(out / "generation_config.json", {"bos_token_id": 1, "eos_token_id": 2})
    save_file(_weights(m), str(out / "model.safetensors"), metadata={"format": "pt"})  # type: ignore[arg-type]
    return out


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
