"""Helpers shared by the tests: `tests.helpers.training` (tiny learnable data, fast configs, a
recording callback) and `tests.helpers.evaluation` (an image folder and a run trained on it).

Imported as a package (`from tests.helpers.training import tiny_config`): pyproject's pytest
`pythonpath` puts the project root on sys.path, and a subprocess started with the project root
as its working folder finds them the same way.
"""
