"""Training stages: sft.py, reward_model.py, ppo.py / grpo.py, and shared checkpoint.py."""
