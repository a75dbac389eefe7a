"""Every shipped SFT / RM preset loads and validates; bad values are one-line ConfigErrors."""

from pathlib import Path

import pytest
import yaml

from rllr.config import load_config
from rllr.errors import ConfigError
from rllr.train.optim import grad_accumulation
from rllr.train.reward_model import RMConfig
from rllr.train.sft import SFTConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("path", sorted((CONFIGS / "sft").glob("*.yaml")), ids=lambda p: p.name)
def test_sft_presets_load(path):
    cfg = load_config(SFTConfig, path)
    assert cfg.lora.r == 16 and cfg.optim.batch_size % cfg.optim.micro_batch_size == 0


@pytest.mark.parametrize("path", sorted((CONFIGS / "rm").glob("*.yaml")), ids=lambda p: p.name)
def test_rm_presets_load(path):
    assert load_config(RMConfig, path).adapter_name in ("rm_label", "rm_rationale")


@pytest.mark.parametrize("path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_parse(path):
    assert "distributed_type" in yaml.safe_load(path.read_text())


def test_rllr_7b_matches_table3():
    cfg = load_config(SFTConfig, CONFIGS / "sft/rllr-7b.yaml")
    assert cfg.optim.batch_size == 128 and cfg.optim.epochs == 20 and 1e-5 <= cfg.optim.lr <= 2e-5


def test_bad_values():
    with pytest.raises(ConfigError, match="data.format=rationale needs data.rationale_file"):
        load_config(SFTConfig, None, ["data.format=rationale"])
    with pytest.raises(ConfigError, match="unknown key 'optim.lrr'"):
        load_config(SFTConfig, None, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="not a multiple"):
        grad_accumulation(load_config(SFTConfig, None, ["optim.batch_size=8", "optim.micro_batch_size=4"]).optim, 3)
