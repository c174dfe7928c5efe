---
dlm_id: {dlm_id}
dlm_version: 2
base_model: {base_model}
training:
  adapters:
    knowledge: {}        # unsuffixed instruction sections train the first adapter
    tone:
      lora_r: 4
---
Shared prose trains every adapter.

::instruction::
### Q
What does the knowledge adapter learn?

### A
Facts from this document.

::instruction#tone::
### Q
How should answers sound?

### A
Short and friendly.
