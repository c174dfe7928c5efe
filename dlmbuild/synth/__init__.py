"""``dlm synth instructions``: a teacher model reads each prose section and writes Q/A pairs.

The pipeline, one module per step: ``teacher_spec`` (what ``--teacher`` names), ``prompts``
(what the teacher is asked), ``teachers`` (who answers), ``pairs`` (parsing replies),
``dedup`` and ``judge`` (the filters), ``stage`` (accepted pairs kept in the store) and
``writeback`` (pairs become ``::instruction::`` sections with ``auto-synth`` provenance).
"""
