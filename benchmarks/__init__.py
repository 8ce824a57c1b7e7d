"""TaskStream's benchmarks: ``python -m benchmarks [SCENARIO ...]``.

Not tests: they print figures and save them (JSON, PNG, a Markdown table) and
never assert a speed. A run that loses, repeats or reorders an event is a
failed run all the same, whatever its speed: ``python -m benchmarks`` exits 1.
"""
