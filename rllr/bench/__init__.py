"""Speed and memory benchmarks (`rllr bench ...`)."""
