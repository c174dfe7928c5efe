---
dlm_id: {dlm_id}
dlm_version: 2
base_model: {base_model}
---
