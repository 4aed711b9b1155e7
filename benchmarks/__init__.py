"""Benchmarks of gclib: each ``bench_*.py`` module has a ``main()`` that prints its table."""
