"""Reward sources (rule-based, reward-model adapters) and how their scores are mixed."""
