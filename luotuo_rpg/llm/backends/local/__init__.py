"""A local transformers (+ peft) model: batched generation, mixed-LoRA batches, decoding constrained
by the request's JSON Schema, GGUF files. The only package that imports torch."""
