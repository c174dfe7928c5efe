---
# A dlm document for a speech base: clips with exact transcripts teach it your names and terms.
dlm_id: {dlm_id}
dlm_version: 2
base_model: {base_model}
training:
  lora_r: 8
  seed: 42
---
::audio path="media/example.wav" transcript="The weather was cold and windy this morning."::
