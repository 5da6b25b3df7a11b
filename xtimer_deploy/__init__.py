"""Deploying xtimer to AWS: `python -m xtimer_deploy --help` (what `make package`, `make deploy`
and `make destroy` run). Not part of the deployed code: Chalice packages app.py and chalicelib/."""
