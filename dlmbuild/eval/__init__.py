"""Measuring what an adapter learned: probes (questions with expected answers), scoring, the
``dlm.eval/1`` report, and harvesting failed probes back into the document.

Only ``runner`` touches a model; every other module here imports no torch, so loading, scoring,
reports and harvest planning are tested without one.
"""
