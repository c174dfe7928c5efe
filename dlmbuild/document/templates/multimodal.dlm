---
# A dlm document for a vision-language base: images with captions, and questions about them.
dlm_id: {dlm_id}
dlm_version: 2
base_model: {base_model}
system_prompt: You describe images from my collection, briefly.
training:
  lora_r: 8
  seed: 42
---
::image path="media/example.png" alt="a red circle on a white background"::
A red circle centred on a plain white square.

::instruction::
### Q
What shape is in the picture?

### A
A red circle.
