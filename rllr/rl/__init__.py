"""Pure RL math on tensors: masked reductions, advantages, losses, KL, log-probabilities.

Imports torch only. Nothing here touches a model, a config object, logging or
`torch.distributed`; the training loops in `rllr/train/` call these functions.
"""
