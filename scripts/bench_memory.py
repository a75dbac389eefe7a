"""Memory of one frozen base + 4 LoRA adapters vs the base alone (target ratio <= 1.3x).

    python scripts/bench_memory.py [--model smollm2-135m-instruct] [--r 16]

Adds the RLLR/PPO roles policy, value (+head), rm_label (+head), rm_rationale (+head) to
one base and reports parameter memory and the process's peak RSS after a forward pass
through each adapter. RSS includes the Python/torch runtime, so its ratio is the honest
"what the machine sees" number; the parameter ratio is the model-only one.
"""

from __future__ import annotations

import argparse
import resource

import torch


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def param_mb(params) -> float:
    return sum(p.numel() * p.element_size() for p in params) / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--seq", type=int, default=256, help="tokens in the probe forward pass")
    args = p.parse_args()

    from rllr.models.adapters import AdapterModel, LoraSettings
    from rllr.models.load import load_causal_lm

    base = load_causal_lm(args.model)
    x = torch.randint(10, 1000, (2, args.seq))
    mask = torch.ones_like(x)
    with torch.no_grad():
        base(input_ids=x, attention_mask=mask)
    base_params, base_rss = param_mb(base.parameters()), peak_rss_mb()

    model = AdapterModel(base).eval()
    roles = {"policy": False, "value": True, "rm_label": True, "rm_rationale": True}
    for name, head in roles.items():
        model.add_adapter(name, LoraSettings(r=args.r), head=head)
    with torch.no_grad():
        for name in roles:
            with model.using(name):
                h = model.hidden_states(x, mask)
            if name in model.heads:
                model.head_scores(name, h)
    all_params, all_rss = param_mb(model.parameters()), peak_rss_mb()

    print(f"model {args.model}, LoRA r={args.r} on q/v, probe batch 2x{args.seq}")
    print(f"{'':28}{'params MiB':>12}{'peak RSS MiB':>14}")
    print(f"{'base alone':28}{base_params:>12.1f}{base_rss:>14.1f}")
    print(f"{'base + 4 adapters (3 heads)':28}{all_params:>12.1f}{all_rss:>14.1f}")
    print(f"{'ratio':28}{all_params / base_params:>12.3f}{all_rss / base_rss:>14.3f}  (target <= 1.3)")


if __name__ == "__main__":
    main()
