"""What vision-language and audio-language bases share (issue 18): both are a text model fed by a
frozen media encoder through the base's processor, and both train a text-model LoRA.

- ``model``: loading such a base and its processor offline, the text-only LoRA targets, CPU threads;
- ``labels``: which tokens of a rendered chat example the loss sees;
- ``lora_loop``: the deterministic step loop, one example per forward;
- ``answer``: generation from the processor's inputs, with or without an adapter.

``dlmbuild.vision`` and ``dlmbuild.audiolm`` hold what differs: reading images or clips, and how
an example becomes processor inputs.
"""
