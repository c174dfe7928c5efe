---
# A dlm document: frontmatter (this YAML) configures the build; the body below is training data.
dlm_id: {dlm_id}
dlm_version: 2
base_model: {base_model}
system_prompt: You are a patient tutor. Answer from the notes, briefly.
training:
  adapter: lora
  lora_r: 8
  sequence_len: 512
  seed: 42
export:
  default_quant: Q4_K_M
---
# My notes

Prose like this paragraph is continued-pretraining text: the model reads it to learn facts.
Replace it with your own notes.

::instruction::
### Q
What is this document for?

### A
It teaches a small local model my notes, so I can ask it questions offline.
