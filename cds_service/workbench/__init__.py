"""The informaticist's workbench: population replay, ledger report and the rule catalogue.

Offline tools over the service's own pipeline; nothing here runs in the web service. Needs the
`workbench` extra (Dask, Jinja2, matplotlib, markdown-it-py, msgspec).
"""
