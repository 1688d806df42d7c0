// Replaced by the benchmark work; see bench/README.md.
print("fms-bench: not yet written")
