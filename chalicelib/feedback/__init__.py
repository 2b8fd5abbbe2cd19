"""Feedback on individual answers.

- `service`: one rating per invocation (`submit_feedback`), per-model summaries
  (`summarize`), and well-rated answers exported back as fine-tuning data
  (`export_training_data`), with their request models.
- `widget`: the browser widget's script (`widget_script`, served at `/widget/feedback.js`).

Records are kept by `chalicelib.storage.feedback`; tokens come from `chalicelib.serving`.
"""
