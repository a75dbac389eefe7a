"""Turning a task `Prompt` into model input text.

Instruction-tuned models use their own chat template; base models without one (e.g.
Gemma-3-270M base) get a plain "System/User/Assistant" layout. The assistant turn is
opened and the prompt's `response_prefix` (``<Judgement>``) appended, so generation and
SFT targets continue from exactly the same text.
"""

from __future__ import annotations

from typing import Any

from rllr.tasks.base import Prompt


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """The full prompt text up to where the model's answer starts."""
    messages = [dict(m) for m in prompt.messages]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
        text = "\n\n".join(parts) + "\n\nAssistant: "
    return text + prompt.response_prefix


def end_of_turn(tokenizer: Any) -> str:
    """The text that closes an assistant turn (appended to SFT targets)."""
    return tokenizer.eos_token or ""
