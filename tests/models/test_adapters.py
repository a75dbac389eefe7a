"""One base, many adapters: switching, reference = adapters off, save/load, copy, scores."""

import torch
from peft import PeftModel

from rllr.models.adapters import AdapterModel, LoraSettings, last_token_index
from tests.conftest import make_tiny_lm


def _perturb(model: AdapterModel, name: str) -> None:
    for n, p in model.peft.named_parameters():
        if f"lora_B.{name}." in n:
            p.data.normal_()


def _inputs():
    x = torch.randint(3, 100, (2, 7))
    mask = torch.ones_like(x)
    mask[0, :2] = 0  # left padding
    return x, mask


def test_switching_adapters_and_reference():
    base = make_tiny_lm(vocab_size=120)
    model = AdapterModel(base).eval()
    model.add_adapter("policy", LoraSettings(r=4))
    model.add_adapter("value", LoraSettings(r=4), head=True)
    x, mask = _inputs()
    with model.using(None):
        ref = model.hidden_states(x, mask)
    _perturb(model, "policy")
    with model.using("policy"):
        pol = model.hidden_states(x, mask)
    with model.using("value"):
        val = model.hidden_states(x, mask)
    with model.using(None):
        ref2 = model.hidden_states(x, mask)
    assert not torch.allclose(pol, ref)
    assert torch.allclose(val, ref)  # LoRA B starts at zero
    assert torch.allclose(ref2, ref)


def test_trainable_set_survives_switches():
    model = AdapterModel(make_tiny_lm(vocab_size=120))
    model.add_adapter("policy", LoraSettings(r=4))
    model.add_adapter("value", LoraSettings(r=4), head=True)
    model.add_adapter("rm_label", LoraSettings(r=4), head=True, trainable=False)
    with model.using("rm_label"):
        pass
    grads = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A.policy" in n for n in grads)
    assert any("lora_A.value" in n for n in grads)
    assert not any("rm_label" in n for n in grads)
    assert not any("base_layer" in n or "embed_tokens" in n for n in grads)


def test_save_load_roundtrip_in_peft_format(tmp_path):
    base = make_tiny_lm(vocab_size=120, seed=1)
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    model = AdapterModel(base).eval()
    model.add_adapter("rm_label", LoraSettings(r=4), head=True)
    _perturb(model, "rm_label")
    x, mask = _inputs()
    scores = model.sequence_scores("rm_label", x, mask)
    model.save_adapter("rm_label", tmp_path / "rm")
    assert (tmp_path / "rm" / "adapter_config.json").is_file()
    assert (tmp_path / "rm" / "head.safetensors").is_file()

    fresh = make_tiny_lm(vocab_size=120, seed=2)
    fresh.load_state_dict(base_state)
    again = AdapterModel(fresh).eval()
    again.load_adapter("rm_label", tmp_path / "rm")
    assert torch.allclose(again.sequence_scores("rm_label", x, mask), scores, atol=1e-5)

    other = make_tiny_lm(vocab_size=120, seed=3)
    other.load_state_dict(base_state)
    PeftModel.from_pretrained(other, str(tmp_path / "rm"))  # the ecosystem loads it too


def test_copy_adapter_gives_same_scores():
    model = AdapterModel(make_tiny_lm(vocab_size=120)).eval()
    model.add_adapter("rm_label", LoraSettings(r=4), head=True, trainable=False)
    _perturb(model, "rm_label")
    model.copy_adapter("rm_label", "value")
    x, mask = _inputs()
    assert torch.allclose(model.sequence_scores("value", x, mask), model.sequence_scores("rm_label", x, mask))


def test_last_token_index_left_and_right_padding():
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 0], [1, 1, 1, 1]])
    assert last_token_index(mask).tolist() == [3, 2, 3]
