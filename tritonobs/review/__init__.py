"""Review of changes in pull requests: `tritonobs lint`, `tritonobs diff`, `tritonobs preview`.

Pure parts (rules, diff, drawing from given data) take parsed documents and return findings/entries;
files, git and Prometheus stay in `sources.py`, `revisions.py` and the CLI modules.
"""
