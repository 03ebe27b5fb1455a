"""Tiny configurations of mlx-lm's model families and their random-weight
models, built with mlx-lm's own classes (bench.family: random_model, write_random_family)."""

from __future__ import annotations

from typing import Any

COMMON = {"hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64,
          "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
          "max_position_embeddings": 512}

# A sliding window of 6 keys, so a few decode steps cross it.
FAMILY_CONFIGS: dict[str, dict[str, Any]] = {
    "mistral": {**COMMON, "rope_theta": 1e6, "tie_word_embeddings": False, "sliding_window": None},
    "qwen2": {**COMMON, "rope_theta": 1e6, "tie_word_embeddings": True},
    "qwen3": {**COMMON, "head_dim": 16, "rope_theta": 1e6, "tie_word_embeddings": True},
    "gemma3_text": {**COMMON, "num_hidden_layers": 3, "head_dim": 16, "query_pre_attn_scalar": 16,
                    "sliding_window": 6, "sliding_window_pattern": 3, "rope_theta": 1e6},
    "phi3": {**COMMON, "rope_theta": 1e4},
    "starcoder2": {**COMMON, "norm_epsilon": 1e-5},
    "olmo2": {**COMMON},
    "gemma2": {**COMMON, "head_dim": 16, "query_pre_attn_scalar": 16},
    # attention sinks, mixture of experts, a sliding window
    "gpt_oss": {**COMMON, "intermediate_size": 32, "num_local_experts": 4, "num_experts_per_tok": 2,
                "head_dim": 8, "sliding_window": 6},
    # multi-head latent attention: the positional score comes in as an additive mask
    "deepseek_v3": {**COMMON, "num_key_value_heads": 4, "moe_intermediate_size": 16,
                    "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2,
                    "kv_lora_rank": 16, "q_lora_rank": 16, "qk_rope_head_dim": 8,
                    "v_head_dim": 8, "qk_nope_head_dim": 8, "first_k_dense_replace": 1},
    "cohere2": {**COMMON, "head_dim": 8, "sliding_window": 6, "sliding_window_pattern": 2},
    "granite": {**COMMON, "logits_scaling": 1.0, "attention_multiplier": 0.35,
                "embedding_multiplier": 1.0, "residual_multiplier": 1.0, "attention_bias": False,
                "mlp_bias": False, "rope_theta": 1e4},
    "smollm3": {**COMMON, "rope_theta": 1e4},
    "internlm3": {**COMMON, "head_dim": 8, "rope_theta": 1e4, "bias": False, "qkv_bias": False},
}
# Families that compute attention their own way: they run with logit metrics only.
LOGIT_ONLY = {"gemma2"}
# A state-space model: its recurrent state cannot be rewound or forked, so it is refused.
MAMBA_CONFIG = {"model_type": "mamba", "vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
                "state_size": 4, "num_hidden_layers": 2, "conv_kernel": 4, "use_bias": False,
                "use_conv_bias": True, "time_step_rank": 4}


def family_config(model_type: str, vocab_size: int) -> dict[str, Any]:
    return {"model_type": model_type, "vocab_size": vocab_size, **FAMILY_CONFIGS[model_type]}
