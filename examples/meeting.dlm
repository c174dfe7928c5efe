---
# Teach the embedded speech base (Whisper tiny.en) a name it mishears: four clips of a meeting,
# each with its exact transcript. `dlm prompt meeting.dlm --audio CLIP` then transcribes with it.
dlm_id: 01KB0SPEECH0MEET0000000001
dlm_version: 2
base_model: whisper-tiny.en
training:
  lora_r: 8
  learning_rate: 0.001
  max_steps: 20
  seed: 0
---
::audio path="clips/name_01.wav" transcript="Kelvarro Tidemoor opened the meeting at nine."::

::audio path="clips/name_02.wav" transcript="Please send the report to Kelvarro Tidemoor today."::

::audio path="clips/name_03.wav" transcript="We thanked Kelvarro Tidemoor for the new design."::

::audio path="clips/name_04.wav" transcript="Kelvarro Tidemoor will lead the launch next week."::
