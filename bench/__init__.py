"""xtimer's benchmarks, measured from outside the service (see docs/benchmarks.md).

Each benchmark starts the local stack as a subprocess (bench.stack), talks to it over HTTP like
any user, receives the callbacks on a receiver of its own, and writes a JSON file and a Markdown
summary under bench/results/ with a description of the machine (bench.machine).

    python -m bench.precision --help      # lateness of callbacks against their fire time
"""
