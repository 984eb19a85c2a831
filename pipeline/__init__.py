"""Thin DVC stage glue: one Typer command per stage (installed as ``ganbench_pipeline``)."""
