"""The demo's scripted policy: `demo.jsonl` (package data, what `intern-tui demo` runs) and its source,
`policy.py` (`python -m intern_tui.demo.policy` regenerates the JSONL after an edit)."""
