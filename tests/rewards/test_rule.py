"""Rule rewards on hand-written completions, and the source mix / shaping."""

from __future__ import annotations

import pytest
import torch

from rllr.errors import ConfigError
from rllr.rewards.mix import RunningMoments
from rllr.rewards.rule import (
    answer_template_reward,
    judgement_reward,
    squad_em_reward,
    squad_f1_reward,
)
from rllr.rewards.sources import (
    REWARD_SOURCES,
    RewardConfig,
    ScoreInputs,
    reward_preset,
    shape_rewards,
)
from rllr.tasks.base import Example
from rllr.tasks.registry import get_task

SST2 = get_task("sst2")
STSB = get_task("stsb")
SQUAD = get_task("squad_v1")
POS = Example(task="sst2", uid="u1", inputs={"text": "great"}, label="positive")
STS = Example(task="stsb", uid="u2", inputs={"text_a": "a", "text_b": "b"}, label=4.0)
QA = Example(task="squad_v1", uid="u3", inputs={"text_a": "c", "text_b": "q"}, label="the Eiffel Tower",
             answers=("the Eiffel Tower", "Eiffel Tower"))


@pytest.mark.parametrize("completion, reward", [
    ("positive</Judgement>", 1.0),             # correct keyword inside the tag
    ("negative</Judgement>", 0.0),             # wrong keyword
    ("Positive</Judgement> because ...", 1.0),  # case-insensitive, trailing text ignored
    ("positive", -1.0),                        # no closing tag: bad format
    ("I am not sure</Judgement>", -1.0),       # no label word inside: bad format
    ("positive negative</Judgement>", -1.0),   # two labels: ambiguous = bad format
])
def test_judgement_classification(completion, reward):
    assert judgement_reward(completion, POS, SST2) == reward


@pytest.mark.parametrize("completion, reward", [
    ("3.0</Judgement>", 1.5),   # 2.5 - |3.0 - 4.0|
    ("4.0</Judgement>", 2.5),   # exact
    ("0.5</Judgement>", -1.0),  # 2.5 - 3.5
    ("high</Judgement>", -2.5),  # no number: bad format
    ("7.0</Judgement>", -2.5),  # outside [0, 5]: bad format
])
def test_judgement_regression(completion, reward):
    assert judgement_reward(completion, STS, STSB) == pytest.approx(reward)


def test_answer_template_is_strict():
    assert answer_template_reward("Loved it.\n\nThe answer is: positive", POS, SST2) == 1.0
    assert answer_template_reward("The answer is: negative", POS, SST2) == 0.0
    assert answer_template_reward("positive", POS, SST2) == -1.0  # no template, no fallback


def test_squad_rewards():
    assert squad_em_reward("The Eiffel Tower.</Judgement>", QA, SQUAD) == 1.0  # normalised match
    assert squad_em_reward("Tower</Judgement>", QA, SQUAD) == 0.0
    # F1 of "Tower" vs "Eiffel Tower": precision 1, recall 1/2 -> 2/3
    assert squad_f1_reward("Tower</Judgement>", QA, SQUAD) == pytest.approx(2 / 3)
    assert squad_f1_reward("no closing tag", QA, SQUAD) == -1.0


def test_sources_score_a_batch():
    inp = ScoreInputs(["positive</Judgement>", "negative</Judgement>", "?"], [POS] * 3, [SST2] * 3, "judgement")
    assert REWARD_SOURCES["judgement"](inp).tolist() == [1.0, 0.0, -1.0]


def test_rllr_mix_caps_the_label_score():
    cfg = RewardConfig(sources={"rm_label": 1.0, "rm_rationale": 1.0}, mix="rllr", lam=3.9,
                       rm_label="a", rm_rationale="b")
    scores = {"rm_label": torch.tensor([5.0, 1.0]), "rm_rationale": torch.tensor([0.5, 0.5])}
    # min(5.0, 3.9) + 0.5 = 4.4 ; min(1.0, 3.9) + 0.5 = 1.5
    assert shape_rewards(cfg, scores).tolist() == pytest.approx([4.4, 1.5])


def test_weighted_sum_normalise_and_clip():
    cfg = RewardConfig(sources={"judgement": 2.0, "answer": 1.0}, normalize=True, clip=0.5)
    scores = {"judgement": torch.tensor([1.0, 0.0]), "answer": torch.tensor([1.0, -1.0])}
    moments = RunningMoments()
    # mix = [3, -1]; mean 1, unbiased std sqrt(8) -> [0.707, -0.707] -> clipped to [0.5, -0.5]
    assert shape_rewards(cfg, scores, moments).tolist() == pytest.approx([0.5, -0.5])
    assert moments.mean == pytest.approx(1.0)


def test_reward_config_validation():
    with pytest.raises(ConfigError, match="unknown source"):
        RewardConfig(sources={"bleu": 1.0})
    with pytest.raises(ConfigError, match="no adapter path"):
        RewardConfig(sources={"rm_label": 1.0})
    with pytest.raises(ConfigError, match="rm_label and rm_rationale"):
        RewardConfig(sources={"judgement": 1.0}, mix="rllr")
    assert reward_preset("rllr_mixed")["mix"] == "rllr"
